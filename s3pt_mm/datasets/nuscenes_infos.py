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
import os.path as osp
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Union

import numpy as np

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
    """

    img_path: str
    cam2img: np.ndarray
    cam2ego: np.ndarray
    lidar2cam: np.ndarray
    sample_data_token: str
    timestamp: float

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

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f'{self.where}: {key} {problem}')

    def get(self, mapping: Mapping, key: str, prefix: str = ''):
        if not isinstance(mapping, Mapping):
            raise self.error(prefix.rstrip('.') or 'entry',
                             f'must be a dict, got {type(mapping).__name__}')
        if key not in mapping:
            raise self.error(prefix + key, 'is missing')
        return mapping[key]

    def matrix(self, value, key: str, shape: tuple) -> np.ndarray:
        try:
            m = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise self.error(key, f'is not numeric ({e})') from None
        if m.shape != shape:
            raise self.error(key, f'must have shape {shape}, got {m.shape}')
        if not np.isfinite(m).all():
            raise self.error(key, 'contains NaN or inf')
        if shape == (4, 4) and not np.allclose(m[3], (0, 0, 0, 1)):
            raise self.error(key, f'is not a rigid transform (last row {m[3].tolist()})')
        return m


def _intrinsics(ctx: _Context, value, key: str) -> np.ndarray:
    """3x3 intrinsics; a 4x4 with trivial last row/column (KITTI-style) is reduced to 3x3."""
    m = np.asarray(value, dtype=np.float64) if value is not None else np.zeros(0)
    if m.shape == (4, 4) and np.allclose(m[3], (0, 0, 0, 1)) and np.allclose(m[:3, 3], 0):
        m = m[:3, :3]
    return ctx.matrix(m, key, (3, 3))


def _resolve(ctx: _Context, root: Path, prefix: Mapping[str, str], key: str, name, field: str,
             check_files: bool) -> str:
    if not isinstance(name, str) or not name:
        raise ctx.error(field, f'must be a non-empty file name, got {name!r}')
    path = Path(name)
    if not path.is_absolute():
        path = root / prefix.get(key, '') / path
    if check_files and not path.is_file():
        hint = ('' if prefix else ' (files under samples/<CHANNEL>? pass '
                'data_prefix=NUSCENES_DATA_PREFIX)')
        raise FileNotFoundError(f'{ctx.where}: {field} file {str(path)!r} not found{hint}')
    return str(path)


def _parse_sample(ctx: _Context, info: Mapping, index: int, root: Path,
                  prefix: Mapping[str, str], check_files: bool) -> NuScenesSample:
    lidar = ctx.get(info, 'lidar_points')
    num_feats = ctx.get(lidar, 'num_pts_feats', 'lidar_points.')
    if not isinstance(num_feats, (int, np.integer)) or num_feats < 3:
        raise ctx.error('lidar_points.num_pts_feats', f'must be an integer >= 3, got {num_feats!r}')
    images = ctx.get(info, 'images')
    if not isinstance(images, Mapping) or not images:
        raise ctx.error('images', 'must be a non-empty dict of cameras')
    cameras = {}
    for channel, cam in images.items():
        key = f'images.{channel}.'
        cameras[channel] = NuScenesCamera(
            img_path=_resolve(ctx, root, prefix, channel, ctx.get(cam, 'img_path', key),
                              key + 'img_path', check_files),
            cam2img=_intrinsics(ctx, ctx.get(cam, 'cam2img', key), key + 'cam2img'),
            cam2ego=ctx.matrix(ctx.get(cam, 'cam2ego', key), key + 'cam2ego', (4, 4)),
            lidar2cam=ctx.matrix(ctx.get(cam, 'lidar2cam', key), key + 'lidar2cam', (4, 4)),
            sample_data_token=str(ctx.get(cam, 'sample_data_token', key)),
            timestamp=float(ctx.get(cam, 'timestamp', key)))
    instances = ctx.get(info, 'instances')
    if not isinstance(instances, list):
        raise ctx.error('instances', f'must be a list, got {type(instances).__name__}')
    boxes = np.zeros((len(instances), 7))
    labels = np.zeros(len(instances), dtype=np.int64)
    velocities = np.full((len(instances), 2), np.nan)
    num_pts = np.full(len(instances), -1, dtype=np.int64)
    for i, inst in enumerate(instances):
        key = f'instances[{i}].'
        box = np.asarray(ctx.get(inst, 'bbox_3d', key), dtype=np.float64)
        if box.shape != (7,) or not np.isfinite(box).all():
            raise ctx.error(key + 'bbox_3d', f'must be 7 finite numbers, got {box.tolist()}')
        if (box[3:6] <= 0).any():
            raise ctx.error(key + 'bbox_3d', f'has non-positive size l, w, h = {box[3:6].tolist()}')
        boxes[i] = box
        labels[i] = int(ctx.get(inst, 'bbox_label_3d', key))
        if 'velocity' in inst:
            v = np.asarray(inst['velocity'], dtype=np.float64)
            if v.shape != (2,):
                raise ctx.error(key + 'velocity', f'must have 2 entries, got {v.tolist()}')
            velocities[i] = v
        if 'num_lidar_pts' in inst:
            num_pts[i] = int(inst['num_lidar_pts'])
    return NuScenesSample(
        index=index, token=str(ctx.get(info, 'token')),
        timestamp=float(ctx.get(info, 'timestamp')),
        lidar_path=_resolve(ctx, root, prefix, 'pts', ctx.get(lidar, 'lidar_path', 'lidar_points.'),
                            'lidar_points.lidar_path', check_files),
        num_pts_feats=int(num_feats),
        lidar2ego=ctx.matrix(ctx.get(lidar, 'lidar2ego', 'lidar_points.'),
                             'lidar_points.lidar2ego', (4, 4)),
        ego2global=ctx.matrix(ctx.get(info, 'ego2global'), 'ego2global', (4, 4)),
        cameras=cameras, boxes_3d=boxes, labels_3d=labels, velocities=velocities,
        num_lidar_pts=num_pts)


def load_nuscenes_infos(pkl_path: PathLike, data_root: Optional[PathLike] = None,
                        data_prefix: Optional[Mapping[str, str]] = None,
                        check_files: bool = True) -> List[NuScenesSample]:
    """Load and validate an mmdet3d nuScenes info file.

    Args:
        pkl_path (str | Path): the ``.pkl`` (a dict with ``metainfo`` and ``data_list``).
        data_root (str | Path, optional): folder the file names are relative to. Defaults to the
            pkl's folder.
        data_prefix (Mapping[str, str], optional): sub-folder per key (``'pts'`` for the LiDAR,
            camera channels for images) below ``data_root``. Defaults to ``{}`` (no sub-folders);
            use ``NUSCENES_DATA_PREFIX`` for the ``samples/<CHANNEL>`` layout.
        check_files (bool): raise ``FileNotFoundError`` when an image or LiDAR file is missing.
            Defaults to True.

    Returns:
        List[NuScenesSample]: one record per ``data_list`` entry, in order.

    Raises:
        FileNotFoundError: if the pkl (or, with ``check_files``, a sensor file) does not exist.
        ValueError: if the pkl is not an info file, or an entry lacks a key or has a malformed
            value; the message names the pkl, the sample index and token, and the key.
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
        samples.append(_parse_sample(ctx, info, index, root, prefix, check_files))
    return samples


def load_points(path: PathLike, num_feats: int = 5) -> np.ndarray:
    """Load a LiDAR ``.pcd.bin`` / ``.bin`` file of float32 points.

    Args:
        path (str | Path): the file.
        num_feats (int): float32 values per point (5 for nuScenes: x, y, z, intensity, ring;
            4 for KITTI). Defaults to 5.

    Returns:
        np.ndarray: (N, num_feats) float32 points.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if ``num_feats`` < 1 or the file size is not a multiple of 4 * num_feats
            bytes (truncated file or wrong ``num_feats``).
    """
    if num_feats < 1:
        raise ValueError(f'num_feats must be >= 1, got {num_feats}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'LiDAR file {str(path)!r} not found')
    size = osp.getsize(path)
    if size % (4 * num_feats):
        raise ValueError(f'LiDAR file {str(path)!r} has {size} bytes, not a multiple of '
                         f'4 * {num_feats} (truncated, or not {num_feats} float32 per point)')
    return np.fromfile(path, dtype=np.float32).reshape(-1, num_feats)
