"""Read mmdet3d nuScenes info files (``info_version`` 1.1) into validated per-sample records.

One small, stable API for every pipeline that needs nuScenes cameras + LiDAR (depth from
LiDAR, pre-training datasets, evaluation), for real mmdet3d infos and for the synthetic ones of
``tools/create_synthetic_nuscenes.py``:

* ``load_nuscenes_infos(pkl, data_root=None, data_prefix=None)`` -> ``List[NuScenesSample]``
  with absolute file paths, numpy calibration matrices and 3-D boxes;
* ``load_points(path, num_feats=5)`` -> (N, num_feats) float32 points of a ``.pcd.bin``.

Paths: the pkl stores file *names* (``img_path``, ``lidar_path``); a file lives at
``data_root / data_prefix[key] / name`` with key ``'pts'`` for the LiDAR and the camera
channel for images (mmdet3d's ``data_prefix`` convention). ``data_root`` defaults to the pkl's
folder and ``data_prefix`` to ``{}`` (files beside the pkl, as in the real keyframe in
``../shared/data/nuscenes_sample``); for a standard nuScenes / synthetic layout pass
``data_prefix=NUSCENES_DATA_PREFIX``. The module itself uses only numpy (no OpenMMLab import).
"""
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from .validation import (MAX_SENSOR_TRANSLATION, DataValidationError, check_intrinsics,
                         check_lidar_file, check_rigid_transform, load_lidar_file)

#: mmdet3d's default nuScenes ``data_prefix``: sensor files under ``samples/<CHANNEL>``.
NUSCENES_DATA_PREFIX: Dict[str, str] = {
    'pts': 'samples/LIDAR_TOP',
    'CAM_FRONT': 'samples/CAM_FRONT',
    'CAM_FRONT_RIGHT': 'samples/CAM_FRONT_RIGHT',
    'CAM_FRONT_LEFT': 'samples/CAM_FRONT_LEFT',
    'CAM_BACK': 'samples/CAM_BACK',
    'CAM_BACK_LEFT': 'samples/CAM_BACK_LEFT',
    'CAM_BACK_RIGHT': 'samples/CAM_BACK_RIGHT',
}

PathLike = Union[str, Path]


@dataclass(frozen=True)
class NuScenesCamera:
    """One camera of a sample.

    Attributes:
        img_path (str): absolute image path.
        cam2img (np.ndarray): (3, 3) float64 intrinsics.
        cam2ego (np.ndarray): (4, 4) float64 camera -> ego pose.
        lidar2cam (np.ndarray): (4, 4) float64 LiDAR -> camera transform.
        sample_data_token (str): nuScenes ``sample_data`` token of the image.
        timestamp (float): capture time in seconds.
        img_shape (Tuple[int, int], optional): (H, W) when the info states it (``height`` /
            ``width``, as KITTI infos do; nuScenes infos do not). Defaults to None.
    """

    img_path: str
    cam2img: np.ndarray
    cam2ego: np.ndarray
    lidar2cam: np.ndarray
    sample_data_token: str
    timestamp: float
    img_shape: Optional[Tuple[int, int]] = None

    @property
    def lidar2img(self) -> np.ndarray:
        """(4, 4) LiDAR -> image projection: [K 0; 0 1] @ lidar2cam (pixel = (u, v) / depth)."""
        k = np.eye(4)
        k[:3, :3] = self.cam2img
        return k @ self.lidar2cam


@dataclass(frozen=True)
class NuScenesSample:
    """One keyframe of an info file.

    Attributes:
        index (int): position in the pkl's ``data_list``.
        token (str): nuScenes sample token.
        timestamp (float): LiDAR time in seconds.
        lidar_path (str): absolute ``.pcd.bin`` path.
        num_pts_feats (int): float32 values per point in the LiDAR file.
        lidar2ego (np.ndarray): (4, 4) float64 LiDAR -> ego pose.
        ego2global (np.ndarray): (4, 4) float64 ego -> global pose.
        cameras (Dict[str, NuScenesCamera]): cameras by channel, in pkl order.
        boxes_3d (np.ndarray): (N, 7) float64 gravity centre x, y, z, l, w, h, yaw (LiDAR frame,
            mmdet3d convention).
        labels_3d (np.ndarray): (N,) int64 index into ``metainfo['categories']`` (-1 = ignored).
        velocities (np.ndarray): (N, 2) float64 vx, vy in the LiDAR frame (NaN = unknown).
        num_lidar_pts (np.ndarray): (N,) int64 LiDAR points in each box (-1 = not given).
    """

    index: int
    token: str
    timestamp: float
    lidar_path: str
    num_pts_feats: int
    lidar2ego: np.ndarray
    ego2global: np.ndarray
    cameras: Dict[str, NuScenesCamera]
    boxes_3d: np.ndarray
    labels_3d: np.ndarray
    velocities: np.ndarray
    num_lidar_pts: np.ndarray


class _Context:
    """Names the pkl, sample and key in error messages."""

    def __init__(self, pkl: str, index: int, token: str) -> None:
        self.where = f'{pkl}: data_list[{index}] (token {token!r})'

    def error(self, key: str, problem: str) -> DataValidationError:
        return DataValidationError(self.where, f'{key} {problem}')

    def get(self, mapping: Mapping, key: str, prefix: str = ''):
        if not isinstance(mapping, Mapping):
            raise self.error(prefix.rstrip('.') or 'entry',
                             f'must be a dict, got {type(mapping).__name__}')
        if key not in mapping:
            raise self.error(prefix + key, 'is missing')
        return mapping[key]

    def matrix(self, value, key: str, max_translation: Optional[float] = None) -> np.ndarray:
        """A (4, 4) rigid transform (:func:`check_rigid_transform`)."""
        return check_rigid_transform(value, where=self.where, name=key,
                                     max_translation=max_translation)

    def number(self, value, key: str) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.error(key, f'must be a number, got {value!r}') from None
        if not np.isfinite(number):
            raise self.error(key, f'must be finite, got {number}')
        return number


def _intrinsics(ctx: _Context, value, key: str, img_path: str,
                img_shape: Optional[Tuple[int, int]]) -> np.ndarray:
    """3x3 intrinsics; a 4x4 with trivial last row/column (KITTI-style) is reduced to 3x3.

    Checked with :func:`check_intrinsics` (focal lengths, and against ``img_shape`` when the
    info states the image's size).
    """
    try:
        m = np.asarray(value, dtype=np.float64) if value is not None else np.zeros(0)
    except (TypeError, ValueError) as e:
        raise ctx.error(key, f'is not numeric ({e})') from None
    if m.shape == (4, 4) and np.allclose(m[3], (0, 0, 0, 1)) and np.allclose(m[:3, 3], 0):
        m = m[:3, :3]
    if m.shape != (3, 3):
        raise ctx.error(key, f'must have shape (3, 3), got {m.shape}')
    return check_intrinsics(m, img_shape, where=f'{ctx.where} (image {img_path!r})', name=key)


def _image_shape(ctx: _Context, cam: Mapping, key: str) -> Optional[Tuple[int, int]]:
    """(H, W) from the optional ``height`` / ``width`` of an image entry (KITTI infos)."""
    if cam.get('height') is None or cam.get('width') is None:
        return None
    try:
        height, width = int(cam['height']), int(cam['width'])
    except (TypeError, ValueError):
        raise ctx.error(key + 'height/width', f'must be integers, got {cam["height"]!r}, '
                        f'{cam["width"]!r}') from None
    if height < 1 or width < 1:
        raise ctx.error(key + 'height/width', f'must be >= 1, got {height}, {width}')
    return height, width


def _resolve(ctx: _Context, root: Path, prefix: Mapping[str, str], key: str, name, field: str,
             check_files: bool) -> str:
    if not isinstance(name, str) or not name:
        raise ctx.error(field, f'must be a non-empty file name, got {name!r}')
    path = Path(name)
    if not path.is_absolute():
        path = root / prefix.get(key, '') / path
    if check_files:
        if not path.is_file():
            hint = ('' if prefix else ' (files under samples/<CHANNEL>? pass '
                    'data_prefix=NUSCENES_DATA_PREFIX)')
            raise FileNotFoundError(f'{ctx.where}: {field} file {str(path)!r} not found{hint}')
        if path.stat().st_size == 0:
            raise ctx.error(field, f'file {str(path)!r} is empty (0 bytes)')
    return str(path)


def _parse_sample(ctx: _Context, info: Mapping, index: int, root: Path,
                  prefix: Mapping[str, str], check_files: bool) -> NuScenesSample:
    if not isinstance(info, Mapping):
        raise ctx.error('entry', f'must be a dict, got {type(info).__name__}')
    token = ctx.get(info, 'token')
    if not isinstance(token, str) or not token:
        raise ctx.error('token', f'must be a non-empty string, got {token!r}')
    lidar = ctx.get(info, 'lidar_points')
    num_feats = ctx.get(lidar, 'num_pts_feats', 'lidar_points.')
    if not isinstance(num_feats, (int, np.integer)) or num_feats < 3:
        raise ctx.error('lidar_points.num_pts_feats', f'must be an integer >= 3, got {num_feats!r}')
    lidar_path = _resolve(ctx, root, prefix, 'pts', ctx.get(lidar, 'lidar_path', 'lidar_points.'),
                          'lidar_points.lidar_path', check_files)
    if check_files:  # size only: a truncated or foreign-layout file, without reading it
        check_lidar_file(lidar_path, int(num_feats),
                         where=f'{ctx.where}: lidar_points.num_pts_feats={int(num_feats)}')
    images = ctx.get(info, 'images')
    if not isinstance(images, Mapping) or not images:
        raise ctx.error('images', 'must be a non-empty dict of cameras')
    cameras = {}
    for channel, cam in images.items():
        key = f'images.{channel}.'
        img_path = _resolve(ctx, root, prefix, channel, ctx.get(cam, 'img_path', key),
                            key + 'img_path', check_files)
        img_shape = _image_shape(ctx, cam, key)
        cameras[channel] = NuScenesCamera(
            img_path=img_path,
            cam2img=_intrinsics(ctx, ctx.get(cam, 'cam2img', key), key + 'cam2img', img_path,
                                img_shape),
            cam2ego=ctx.matrix(ctx.get(cam, 'cam2ego', key), key + 'cam2ego',
                               MAX_SENSOR_TRANSLATION),
            lidar2cam=ctx.matrix(ctx.get(cam, 'lidar2cam', key), key + 'lidar2cam',
                                 MAX_SENSOR_TRANSLATION),
            sample_data_token=str(ctx.get(cam, 'sample_data_token', key)),
            timestamp=ctx.number(ctx.get(cam, 'timestamp', key), key + 'timestamp'),
            img_shape=img_shape)
    instances = ctx.get(info, 'instances')
    if not isinstance(instances, list):
        raise ctx.error('instances', f'must be a list, got {type(instances).__name__}')
    boxes = np.zeros((len(instances), 7))
    labels = np.zeros(len(instances), dtype=np.int64)
    velocities = np.full((len(instances), 2), np.nan)
    num_pts = np.full(len(instances), -1, dtype=np.int64)
    for i, inst in enumerate(instances):
        key = f'instances[{i}].'
        try:
            box = np.asarray(ctx.get(inst, 'bbox_3d', key), dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ctx.error(key + 'bbox_3d', f'is not numeric ({e})') from None
        if box.shape != (7,) or not np.isfinite(box).all():
            raise ctx.error(key + 'bbox_3d', f'must be 7 finite numbers, got {box.tolist()}')
        if (box[3:6] <= 0).any():
            raise ctx.error(key + 'bbox_3d', f'has non-positive size l, w, h = {box[3:6].tolist()}')
        boxes[i] = box
        label = ctx.get(inst, 'bbox_label_3d', key)
        if not isinstance(label, (int, np.integer)) or label < -1:
            raise ctx.error(key + 'bbox_label_3d', f'must be an integer >= -1, got {label!r}')
        labels[i] = int(label)
        if 'velocity' in inst:
            v = np.asarray(inst['velocity'], dtype=np.float64)
            if v.shape != (2,):
                raise ctx.error(key + 'velocity', f'must have 2 entries, got {v.tolist()}')
            velocities[i] = v
        if 'num_lidar_pts' in inst:
            num_pts[i] = int(inst['num_lidar_pts'])
    return NuScenesSample(
        index=index, token=token,
        timestamp=ctx.number(ctx.get(info, 'timestamp'), 'timestamp'),
        lidar_path=lidar_path,
        num_pts_feats=int(num_feats),
        lidar2ego=ctx.matrix(ctx.get(lidar, 'lidar2ego', 'lidar_points.'),
                             'lidar_points.lidar2ego', MAX_SENSOR_TRANSLATION),
        ego2global=ctx.matrix(ctx.get(info, 'ego2global'), 'ego2global'),
        cameras=cameras, boxes_3d=boxes, labels_3d=labels, velocities=velocities,
        num_lidar_pts=num_pts)


@dataclass(frozen=True)
class BadSample:
    """An info entry skipped by :func:`load_nuscenes_infos` (``bad=[]``).

    Attributes:
        index (int): position in ``data_list``.
        token (str): sample token (``'?'`` when the entry has none).
        error (Exception): what was wrong (its message names the pkl, sample and key).
    """

    index: int
    token: str
    error: Exception


def load_nuscenes_infos(pkl_path: PathLike, data_root: Optional[PathLike] = None,
                        data_prefix: Optional[Mapping[str, str]] = None,
                        check_files: bool = True,
                        bad: Optional[List[BadSample]] = None) -> List[NuScenesSample]:
    """Load and validate an mmdet3d nuScenes info file.

    Args:
        pkl_path (str | Path): the ``.pkl`` (a dict with ``metainfo`` and ``data_list``).
        data_root (str | Path, optional): folder the file names are relative to. Defaults to the
            pkl's folder.
        data_prefix (Mapping[str, str], optional): sub-folder per key (``'pts'`` for the LiDAR,
            camera channels for images) below ``data_root``. Defaults to ``{}`` (no sub-folders);
            use ``NUSCENES_DATA_PREFIX`` for the ``samples/<CHANNEL>`` layout.
        check_files (bool): raise ``FileNotFoundError`` when an image or LiDAR file is missing,
            and refuse an empty file or a LiDAR file whose size is not a multiple of
            ``4 * num_pts_feats`` (a stat per file; no file is read). Defaults to True.
        bad (List[BadSample], optional): when given, an entry that fails a check is appended
            here and left out instead of raising (``--skip-bad`` of the tools). Defaults to
            None (raise).

    Returns:
        List[NuScenesSample]: one record per ``data_list`` entry, in order.

    Raises:
        FileNotFoundError: if the pkl (or, with ``check_files``, a sensor file) does not exist.
        ValueError: if the pkl is not an info file, or
            :class:`~s3pt_mm.datasets.validation.DataValidationError` (a ValueError) if an
            entry lacks a key or has a malformed or implausible value (calibration: see
            :func:`~s3pt_mm.datasets.validation.check_intrinsics` and
            :func:`~s3pt_mm.datasets.validation.check_rigid_transform`); the message names
            the pkl, the sample index and token, and the key.
    """
    pkl_path = Path(pkl_path)
    if not pkl_path.is_file():
        raise FileNotFoundError(f'info file {str(pkl_path)!r} not found')
    with open(pkl_path, 'rb') as f:
        try:
            infos = pickle.load(f)
        except Exception as e:  # noqa: BLE001 - any unpickling failure means "not an info file"
            raise ValueError(f'{pkl_path}: cannot unpickle ({type(e).__name__}: {e})') from None
    if not isinstance(infos, Mapping) or 'data_list' not in infos or 'metainfo' not in infos:
        keys = list(infos) if isinstance(infos, Mapping) else type(infos).__name__
        raise ValueError(f'{pkl_path}: not an mmdet3d 1.x info file (need keys metainfo and '
                         f'data_list, got {keys})')
    if not isinstance(infos['data_list'], list):
        raise ValueError(f'{pkl_path}: data_list must be a list')
    root = Path(data_root) if data_root is not None else pkl_path.resolve().parent
    prefix = dict(data_prefix or {})
    samples = []
    for index, info in enumerate(infos['data_list']):
        token = info.get('token', '?') if isinstance(info, Mapping) else '?'
        ctx = _Context(str(pkl_path), index, token)
        try:
            samples.append(_parse_sample(ctx, info, index, root, prefix, check_files))
        except (ValueError, FileNotFoundError) as e:
            if bad is None:
                raise
            bad.append(BadSample(index, str(token), e))
    return samples


def load_points(path: PathLike, num_feats: int = 5, *, columns: Optional[Tuple[str, ...]] = None,
                validate: bool = True, where: str = '') -> np.ndarray:
    """Load a LiDAR ``.pcd.bin`` / ``.bin`` file of float32 points.

    Args:
        path (str | Path): the file.
        num_feats (int): float32 values per point (5 for nuScenes: x, y, z, intensity, ring;
            4 for KITTI). Defaults to 5.
        columns (Tuple[str, ...], optional): column roles for the plausibility check (see
            :func:`~s3pt_mm.datasets.validation.check_lidar_points`). Defaults to None (by
            ``num_feats``).
        validate (bool): check the points (finite, non-empty, each column in its role's
            range). Defaults to True.
        where (str): names the sample in messages. Defaults to ''.

    Returns:
        np.ndarray: (N, num_feats) float32 points.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if ``num_feats`` < 1;
            :class:`~s3pt_mm.datasets.validation.DataValidationError` if the file is empty, its
            size is not a multiple of 4 * num_feats bytes (truncated file or wrong
            ``num_feats``) or, with ``validate``, the points fail
            :func:`~s3pt_mm.datasets.validation.check_lidar_points`; the message names the file.
    """
    if validate:
        return load_lidar_file(path, num_feats, columns=columns, where=where)
    check_lidar_file(path, num_feats, where=where)
    return np.fromfile(path, dtype=np.float32).reshape(-1, num_feats)
