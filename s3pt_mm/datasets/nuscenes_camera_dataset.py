"""Every camera image of nuScenes with its LiDAR sweep, for self-supervised pre-training."""
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.registry import DefaultScope
from mmpretrain.registry import DATASETS, TRANSFORMS

from .depth_io import precomputed_depth_path
from .nuscenes_infos import NUSCENES_DATA_PREFIX, BadSample, load_nuscenes_infos
from .transforms.sample_context import describe_sample
from .validation import (MAX_SENSOR_TRANSLATION, check_image_file, check_intrinsics,
                         check_rigid_transform)

#: The six nuScenes cameras, in mmdet3d's info order.
NUSCENES_CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
                    'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')


@DATASETS.register_module()
class NuScenesCameraDataset(BaseDataset):
    """One item per camera image of nuScenes (every camera of every keyframe; sweeps optional).

    Two sources, one output:

    - an **mmdet3d info file** (``ann_file``, written by mmdet3d's
      ``tools/create_data.py nuscenes`` or by ``tools/create_synthetic_nuscenes.py``), read
      with :func:`~s3pt_mm.datasets.nuscenes_infos.load_nuscenes_infos`; file names are joined
      as ``data_root / data_prefix[key] / name``;
    - a **nuscenes-devkit dataroot** (``version``, e.g. ``'v1.0-trainval'``, tables under
      ``data_root/version``), optionally restricted to a ``split``. Only this source knows the
      camera sweeps (``with_sweeps``) and the image sizes.

    With the devkit, ``lidar2cam`` chains each sensor's own ego pose,
    ``cam <- ego(t_cam) <- global <- ego(t_lidar) <- lidar`` (mmdet3d's converter does the
    same), so a camera sweep is paired with the LiDAR sweep nearest in time in its scene.

    Each item (before the pipeline) holds ``img_path``, ``lidar_path``, ``num_pts_feats``,
    ``cam2img`` (3, 3), ``lidar2cam`` (4, 4), ``channel``, ``sample_token``,
    ``sample_data_token``, ``timestamp`` (s), ``is_key_frame``, ``expected_img_shape``
    ((H, W) or None when the source does not record it), ``depth_path`` (with
    ``depth_prefix``) and ``sample_idx``.

    Args:
        data_root (str): dataset root (the nuScenes dataroot). Defaults to ''.
        ann_file (str): info ``.pkl``, relative to ``data_root`` or absolute. Exactly one of
            ``ann_file`` and ``version`` must be given. Defaults to ''.
        version (str, optional): nuscenes-devkit version folder. Defaults to None.
        split (str | Sequence[str], optional): devkit source only: a split name of
            ``nuscenes.utils.splits.create_splits_scenes()`` (``'train'``, ``'val'``,
            ``'mini_train'``, ...) or a list of scene names; None = every scene.
            Defaults to None.
        cameras (Sequence[str]): channels to include. Defaults to the six cameras.
        with_sweeps (bool): devkit source only: add the non-keyframe camera images (~6x more
            images). Defaults to False.
        data_prefix (Mapping[str, str], optional): info-file source only: folder per key
            (``'pts'`` and camera channels) below ``data_root``. Defaults to
            ``NUSCENES_DATA_PREFIX`` (``samples/<CHANNEL>``); ``{}`` for files beside the pkl.
        depth_prefix (str, optional): folder of precomputed depth below ``data_root`` (see
            ``tools/precompute_depth.py``); sets ``depth_path``. Defaults to None.
        img_shape (Tuple[int, int], optional): info-file source only: the (H, W) every image
            must have (mmdet3d nuScenes infos do not record it; nuScenes: (900, 1600); an
            info that states ``height`` / ``width`` per image, as KITTI's do, is checked
            against those). Defaults to None (only the principal-point checks apply).
        validate_files (bool): before the pipeline runs on an item, check its image file from
            the header (:func:`~s3pt_mm.datasets.validation.check_image_file`: non-empty, a
            whole JPEG/PNG, the recorded size, the principal point inside and near the
            centre), so a broken file fails naming the file instead of inside OpenCV.
            ~0.2 ms per item. Defaults to True.
        skip_bad_samples (bool): leave out info entries (or devkit records) that fail a check
            and list them in :attr:`bad_samples` instead of raising. Defaults to False.
        **kwargs: ``pipeline``, ``indices``, ``serialize_data``, ``lazy_init``, ... of
            :class:`mmengine.dataset.BaseDataset`.

    Attributes:
        bad_samples (List[BadSample]): entries left out by ``skip_bad_samples``.

    Raises:
        ValueError: on a bad source combination, an unknown camera or split, or a malformed
            info entry (naming the pkl / sample / key);
            :class:`~s3pt_mm.datasets.validation.DataValidationError` (a ValueError) when an
            item's image file is broken or does not match its calibration (on access).
        FileNotFoundError: if the info file, the devkit tables or a sensor file is missing.
    """

    def __init__(self,
                 data_root: str = '',
                 ann_file: str = '',
                 version: Optional[str] = None,
                 split: Union[str, Sequence[str], None] = None,
                 cameras: Sequence[str] = NUSCENES_CAMERAS,
                 with_sweeps: bool = False,
                 data_prefix: Optional[Mapping[str, str]] = None,
                 depth_prefix: Optional[str] = None,
                 img_shape: Optional[Tuple[int, int]] = None,
                 validate_files: bool = True,
                 skip_bad_samples: bool = False,
                 **kwargs) -> None:
        if bool(ann_file) == bool(version):
            raise ValueError('give exactly one source: ann_file (an mmdet3d info pkl) or '
                             f'version (a nuscenes-devkit dataroot); got ann_file={ann_file!r}, '
                             f'version={version!r}')
        if ann_file and (with_sweeps or split is not None):
            raise ValueError('with_sweeps and split need the devkit source (version=...): '
                             'an info pkl is already one split and holds no camera sweeps')
        if not cameras or len(set(cameras)) != len(cameras):
            raise ValueError(f'cameras must be distinct channel names, got {cameras}')
        self.version = version
        self.split = split
        self.cameras = tuple(cameras)
        self.with_sweeps = with_sweeps
        self.depth_prefix = depth_prefix
        self.img_shape = tuple(img_shape) if img_shape is not None else None
        self.validate_files = validate_files
        self.skip_bad_samples = skip_bad_samples
        self.bad_samples: List[BadSample] = []
        # load_nuscenes_infos joins data_root itself; keep the prefixes relative.
        self._file_prefix = dict(NUSCENES_DATA_PREFIX if data_prefix is None else data_prefix)
        kwargs['pipeline'] = _build_transforms(kwargs.get('pipeline', []))
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix={}, **kwargs)

    @property
    def depth_root(self) -> Optional[str]:
        """Folder of the precomputed depth maps, or None without ``depth_prefix``."""
        if self.depth_prefix is None:
            return None
        return osp.join(self.data_root, self.depth_prefix)

    def load_data_list(self) -> List[dict]:
        """One dict per camera image (see the class docstring)."""
        infos = self._load_devkit() if self.version else self._load_info_file()
        if self.depth_prefix is not None:
            for info in infos:
                info['depth_path'] = precomputed_depth_path(self.depth_root, info['channel'],
                                                            info['img_path'])
        return infos

    def prepare_data(self, idx: int):
        """The item's info through the pipeline, after :func:`check_image_file` on its image
        (with ``validate_files``)."""
        info = self.get_data_info(idx)
        if self.validate_files:
            check_image_file(info['img_path'], info.get('expected_img_shape'),
                             cam2img=info['cam2img'], where=describe_sample(info))
        return self.pipeline(info)

    def _load_info_file(self) -> List[dict]:
        bad = self.bad_samples if self.skip_bad_samples else None
        samples = load_nuscenes_infos(self.ann_file, data_root=self.data_root or None,
                                      data_prefix=self._file_prefix, bad=bad)
        infos = []
        for sample in samples:
            missing = [c for c in self.cameras if c not in sample.cameras]
            where = f'{self.ann_file}: data_list[{sample.index}] (token {sample.token!r})'
            if missing:
                error = ValueError(f'{where} has no camera(s) {missing}; it has '
                                   f'{list(sample.cameras)}')
                if bad is None:
                    raise error
                bad.append(BadSample(sample.index, sample.token, error))
                continue
            for channel in self.cameras:
                cam = sample.cameras[channel]
                shape = cam.img_shape or self.img_shape
                if cam.img_shape and self.img_shape and cam.img_shape != self.img_shape:
                    raise ValueError(f'{where}: images.{channel} states a size of '
                                     f'{cam.img_shape} (HxW), the dataset\'s img_shape is '
                                     f'{self.img_shape}')
                infos.append(dict(
                    img_path=cam.img_path, lidar_path=sample.lidar_path,
                    num_pts_feats=sample.num_pts_feats, cam2img=cam.cam2img,
                    lidar2cam=cam.lidar2cam, channel=channel, sample_token=sample.token,
                    sample_data_token=cam.sample_data_token, timestamp=cam.timestamp,
                    is_key_frame=True, expected_img_shape=shape))
        return infos

    def _load_devkit(self) -> List[dict]:
        from nuscenes.nuscenes import NuScenes
        table_dir = osp.join(self.data_root, self.version)
        if not osp.isdir(table_dir):
            raise FileNotFoundError(f'nuScenes tables {table_dir!r} not found (data_root '
                                    f'{self.data_root!r}, version {self.version!r})')
        nusc = NuScenes(version=self.version, dataroot=self.data_root, verbose=False)
        scenes = self._scene_tokens(nusc)
        infos = []
        for sample in nusc.sample:
            if sample['scene_token'] not in scenes:
                continue
            lidar = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
            for channel in self.cameras:
                if channel not in sample['data']:
                    raise ValueError(f'{table_dir}: sample {sample["token"]} has no '
                                     f'{channel} image')
                cam = nusc.get('sample_data', sample['data'][channel])
                self._append_devkit_info(infos, nusc, cam, lidar, sample['token'])
        if self.with_sweeps:
            infos += self._devkit_sweeps(nusc, scenes)
        return infos

    def _scene_tokens(self, nusc) -> Set[str]:
        if self.split is None:
            return {s['token'] for s in nusc.scene}
        if isinstance(self.split, str):
            from nuscenes.utils.splits import create_splits_scenes
            splits = create_splits_scenes()
            if self.split not in splits:
                raise ValueError(f'unknown split {self.split!r}; known: {sorted(splits)}')
            names = set(splits[self.split])
        else:
            names = set(self.split)
        tokens = {s['token'] for s in nusc.scene if s['name'] in names}
        if not tokens:
            raise ValueError(f'split {self.split!r} selects no scene of {self.version} under '
                             f'{self.data_root!r}')
        return tokens

    def _devkit_sweeps(self, nusc, scenes: Set[str]) -> List[dict]:
        """Non-keyframe camera images, each with the LiDAR sweep nearest in time."""
        scene_of = {s['token']: s['scene_token'] for s in nusc.sample}
        lidar_by_scene: Dict[str, list] = defaultdict(list)
        cams = set(self.cameras)
        sweeps = []
        for sd in nusc.sample_data:
            scene = scene_of.get(sd['sample_token'])
            if scene not in scenes:
                continue
            if sd['channel'] == 'LIDAR_TOP':
                lidar_by_scene[scene].append(sd)
            elif sd['channel'] in cams and not sd['is_key_frame']:
                sweeps.append((scene, sd))
        times = {}
        for scene, records in lidar_by_scene.items():
            records.sort(key=lambda r: r['timestamp'])
            times[scene] = np.array([r['timestamp'] for r in records])
        infos = []
        for scene, cam in sweeps:
            if scene not in times:
                raise ValueError(f'scene {scene} has camera sweeps but no LiDAR sample_data')
            t = times[scene]
            after = int(np.searchsorted(t, cam['timestamp']))
            k = min((i for i in (after - 1, after) if 0 <= i < len(t)),
                    key=lambda i: abs(t[i] - cam['timestamp']))
            self._append_devkit_info(infos, nusc, cam, lidar_by_scene[scene][k],
                                     cam['sample_token'])
        return infos

    def _append_devkit_info(self, infos: List[dict], nusc, cam: dict, lidar: dict,
                            sample_token: str) -> None:
        """Append one devkit item, or record it in ``bad_samples`` with ``skip_bad_samples``."""
        try:
            infos.append(self._devkit_info(nusc, cam, lidar, sample_token))
        except ValueError as e:
            if not self.skip_bad_samples:
                raise
            self.bad_samples.append(BadSample(len(infos), sample_token, e))

    def _devkit_info(self, nusc, cam: dict, lidar: dict, sample_token: str) -> dict:
        cam_cs = nusc.get('calibrated_sensor', cam['calibrated_sensor_token'])
        lidar_cs = nusc.get('calibrated_sensor', lidar['calibrated_sensor_token'])
        where = (f'{self.version}: calibrated_sensor {cam_cs["token"]} of image '
                 f'{cam["filename"]!r} (sample {sample_token})')
        cam2img = np.asarray(cam_cs['camera_intrinsic'], dtype=np.float64)
        if cam2img.shape != (3, 3):
            raise ValueError(f'{where}: camera_intrinsic must be 3x3, got shape '
                             f'{cam2img.shape}')
        img_shape = (int(cam['height']), int(cam['width']))
        check_intrinsics(cam2img, img_shape, where=where, name='camera_intrinsic')
        lidar2ego = _pose(lidar_cs)
        ego2global_lidar = _pose(nusc.get('ego_pose', lidar['ego_pose_token']))
        cam2ego = _pose(cam_cs)
        ego2global_cam = _pose(nusc.get('ego_pose', cam['ego_pose_token']))
        for name, pose in (('camera pose', cam2ego), ('LiDAR pose', lidar2ego),
                           ('camera ego pose', ego2global_cam),
                           ('LiDAR ego pose', ego2global_lidar)):
            check_rigid_transform(pose, where=where, name=name)
        lidar2cam = (np.linalg.inv(cam2ego) @ np.linalg.inv(ego2global_cam)
                     @ ego2global_lidar @ lidar2ego)
        check_rigid_transform(lidar2cam, where=where, name='lidar2cam',
                              max_translation=MAX_SENSOR_TRANSLATION)
        return dict(
            img_path=osp.join(self.data_root, cam['filename']),
            lidar_path=osp.join(self.data_root, lidar['filename']), num_pts_feats=5,
            cam2img=cam2img, lidar2cam=lidar2cam, channel=cam['channel'],
            sample_token=sample_token, sample_data_token=cam['token'],
            timestamp=cam['timestamp'] / 1e6, is_key_frame=bool(cam['is_key_frame']),
            expected_img_shape=img_shape)


def _build_transforms(pipeline: Sequence) -> list:
    """Build transform configs from mmpretrain's registry (mmengine's Compose would look in
    the caller's default scope, which is not mmpretrain outside a runner)."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]


def _pose(record: dict) -> np.ndarray:
    """(4, 4) transform of a nuScenes ``rotation`` (w, x, y, z) + ``translation`` record."""
    from pyquaternion import Quaternion
    pose = np.eye(4)
    pose[:3, :3] = Quaternion(record['rotation']).rotation_matrix
    pose[:3, 3] = record['translation']
    return pose
