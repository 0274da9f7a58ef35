"""CM3D pseudo-labels of one sample: masks + LiDAR + priors -> 3D boxes (docs/cm3d.md).

The steps, in the reference's order (github meharkhurana03/cm3d, ``src/nuscenes/2d_to_3d.py``):

1. LiDAR: the keyframe sweep and up to ``num_sweeps - 1`` more, each cleared of the points in
   the near-sensor square (:func:`~s3pt_mm.cm3d.lifting.near_points_mask`) in its own frame,
   then moved into the keyframe's LiDAR frame.
2. Per mask: 3x3 erosion, the points projecting into it (depth > 2.3 m), their medoid. No point:
   no box (counted as ``no_points``). A class without a size prior: no box (``no_prior``).
3. Global frame: for vehicles and barriers, the yaw of the nearest lane pose (no lane, or none
   within ``max_lane_distance``: yaw 0, counted as ``no_lane``) and the push-back of the medoid
   along the ray from the ego position; other classes keep yaw 0 (identity rotation in the
   global frame) and the medoid.
4. Size = prior, z = the medoid's, score = the mask's; class-wise circle NMS over the cameras.

Boxes are returned in the keyframe's LiDAR frame in mmdet3d's convention (gravity centre
x, y, z, l, w, h, yaw).
"""
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample, load_points

from . import lifting
from .mask_sources.base import InstanceMask

#: Summary counters of :class:`CM3DLabeller` (all documented in docs/cm3d.md).
COUNT_KEYS = ('masks', 'no_points', 'no_prior', 'no_lane', 'boxes_before_nms', 'boxes')


@dataclass
class CM3DConfig:
    """Switches of the lifting. Every default is the reference implementation's.

    Attributes:
        erosion (int): square erosion kernel side; 0 = no erosion (ablation). Defaults to 3.
        centre (str): ``'medoid'`` or ``'mean'`` (ablation). Defaults to ``'medoid'``.
        push_back (bool): push vehicle / barrier centres back along the ray. Defaults to True.
        push_back_axes (str): ``'reference'`` (the reference's width-along-heading extents) or
            ``'exact'``, see :func:`~s3pt_mm.cm3d.lifting.push_back`. Defaults to 'reference'.
        min_dist (float): camera-depth threshold and near-LiDAR square (sqrt). Defaults to 2.3.
        pixel_convention (str): ``'reference'`` or ``'centre'``, see
            :func:`~s3pt_mm.cm3d.lifting.points_in_mask`. Defaults to 'reference'.
        num_sweeps (int): LiDAR sweeps merged (the keyframe + the info's ``lidar_sweeps``; the
            reference merges the keyframe and the two *following* sweeps, mmdet3d infos list
            preceding ones). Defaults to 3.
        max_lane_distance (Optional[float]): ignore lanes farther than this (yaw 0); None = the
            reference (nearest lane at any distance). Defaults to None.
        lane_classes (Tuple[str, ...]): classes with lane yaw and push-back.
        priors (Dict[str, Tuple[float, float, float]]): (w, l, h) per class.
        nms_thresholds (Dict[str, float]): circle-NMS squared radii per class.
        nms (bool): run the circle NMS. Defaults to True.
    """

    erosion: int = 3
    centre: str = 'medoid'
    push_back: bool = True
    push_back_axes: str = 'reference'
    min_dist: float = lifting.MIN_DIST
    pixel_convention: str = 'reference'
    num_sweeps: int = 3
    max_lane_distance: Optional[float] = None
    lane_classes: Tuple[str, ...] = lifting.LANE_CLASSES
    priors: Dict[str, Tuple[float, float, float]] = field(
        default_factory=lambda: dict(lifting.SHAPE_PRIORS))
    nms_thresholds: Dict[str, float] = field(
        default_factory=lambda: dict(lifting.CIRCLE_NMS_THRESHOLDS))
    nms: bool = True


@dataclass
class PseudoBox:
    """One pseudo-label in the keyframe's LiDAR frame.

    Attributes:
        label (str): class name.
        score (float): the mask's score.
        box (np.ndarray): (7,) gravity centre x, y, z, l, w, h, yaw (mmdet3d LiDAR convention).
        num_points (int): LiDAR points in the mask.
        camera (str): the camera of the mask.
    """

    label: str
    score: float
    box: np.ndarray
    num_points: int
    camera: str


def _yaw_of(rot: np.ndarray) -> float:
    return math.atan2(rot[1, 0], rot[0, 0])


def load_lane_poses(path: Optional[Path]) -> np.ndarray:
    """Lane poses (x, y, yaw), global frame, from a ``lanes/<logfile>.json`` file.

    Args:
        path (Optional[Path]): the file; None or a missing file = no lanes.

    Returns:
        np.ndarray: (M, 3) float64, M = 0 without lanes.

    Raises:
        ValueError: if the file exists but has no ``lanes`` list of (x, y, yaw) poses.
    """
    if path is None or not Path(path).is_file():
        return np.zeros((0, 3))
    data = json.loads(Path(path).read_text())
    try:
        poses = [p for lane in data['lanes'] for p in lane['poses']]
        arr = np.asarray(poses, dtype=np.float64).reshape(-1, 3)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f'{path}: expected {{"lanes": [{{"poses": [[x, y, yaw], ...]}}]}} '
                         f'({e})') from None
    return arr


def aggregate_lidar(sample: NuScenesSample, info: Mapping, data_root: Path,
                    num_sweeps: int, min_dist: float) -> np.ndarray:
    """The keyframe sweep plus up to ``num_sweeps - 1`` of the info's ``lidar_sweeps``.

    Each sweep loses its near-sensor square in its own frame (reference), then sweeps are moved
    into the keyframe LiDAR frame with their ``lidar2sensor`` (mmdet3d's info convention).

    Args:
        sample (NuScenesSample): the keyframe.
        info (Mapping): its raw info dict (for ``lidar_sweeps``).
        data_root (Path): folder the sweep paths are relative to.
        num_sweeps (int): sweeps in total (>= 1).
        min_dist (float): the near-filter's ``min_dist``.

    Returns:
        np.ndarray: (N, 3) float64 points in the keyframe LiDAR frame.

    Raises:
        FileNotFoundError: if a sweep file is missing (path named).
    """
    pts = load_points(sample.lidar_path, sample.num_pts_feats)[:, :3].astype(np.float64)
    clouds = [pts[lifting.near_points_mask(pts, min_dist)]]
    for sweep in list(info.get('lidar_sweeps') or [])[:max(0, num_sweeps - 1)]:
        path = Path(sweep['lidar_points']['lidar_path'])
        if not path.is_absolute():
            path = data_root / path
        p = load_points(str(path), sample.num_pts_feats)[:, :3].astype(np.float64)
        p = p[lifting.near_points_mask(p, min_dist)]
        t = np.asarray(sweep['lidar_points']['lidar2sensor'], dtype=np.float64)
        clouds.append(p @ t[:3, :3].T + t[:3, 3])
    return np.concatenate(clouds, axis=0)


class CM3DLabeller:
    """Lift a sample's instance masks to 3D pseudo-boxes (the module docstring's steps).

    Args:
        config (CM3DConfig): the switches. Defaults to the reference's behaviour.
    """

    def __init__(self, config: Optional[CM3DConfig] = None) -> None:
        self.config = config or CM3DConfig()

    def label(self, sample: NuScenesSample, points: np.ndarray, masks: Sequence[InstanceMask],
              lane_poses: np.ndarray) -> Tuple[List[PseudoBox], Counter]:
        """Pseudo-boxes of one sample.

        Args:
            sample (NuScenesSample): calibration and poses.
            points (np.ndarray): (N, >=3) LiDAR points, keyframe LiDAR frame.
            masks (Sequence[InstanceMask]): the sample's masks (all cameras).
            lane_poses (np.ndarray): (M, 3) global lane poses (x, y, yaw); M may be 0.

        Returns:
            Tuple[List[PseudoBox], Counter]: boxes after NMS and the counts of ``COUNT_KEYS``.

        Raises:
            ValueError: if a mask names a camera the sample does not have.
        """
        cfg = self.config
        counts = Counter({k: 0 for k in COUNT_KEYS})
        xyz = np.asarray(points, dtype=np.float64)[:, :3]
        lidar2global = sample.ego2global @ sample.lidar2ego
        rot, trans = lidar2global[:3, :3], lidar2global[:3, 3]
        yaw_l2g = _yaw_of(rot)
        ego_xy = sample.ego2global[:2, 3]
        projected: Dict[Tuple[str, float], Tuple[np.ndarray, np.ndarray]] = {}
        boxes: List[PseudoBox] = []
        for m in masks:
            counts['masks'] += 1
            if m.camera not in sample.cameras:
                raise ValueError(f'sample {sample.token}: mask for unknown camera {m.camera!r} '
                                 f'(cameras: {list(sample.cameras)})')
            key = (m.camera, float(m.scale))
            if key not in projected:
                cam = sample.cameras[m.camera]
                projected[key] = lifting.project_to_image(xyz, cam.lidar2cam, cam.cam2img,
                                                          m.scale)
            uv, depth = projected[key]
            mask = lifting.erode_mask(m.mask, cfg.erosion)
            idx = lifting.points_in_mask(uv, depth, mask, cfg.min_dist, cfg.pixel_convention)
            if len(idx) == 0:
                counts['no_points'] += 1
                continue
            prior = cfg.priors.get(m.label)
            if prior is None:
                counts['no_prior'] += 1
                continue
            centre = lifting.object_centre(xyz[idx], cfg.centre) @ rot.T + trans  # global
            yaw = 0.0
            if m.label in cfg.lane_classes:
                lane_yaw, dist = lifting.nearest_lane(centre[:2], lane_poses)
                limit = math.inf if cfg.max_lane_distance is None else cfg.max_lane_distance
                if lane_yaw is None or dist > limit:
                    counts['no_lane'] += 1
                else:
                    yaw = lane_yaw
                if cfg.push_back:
                    centre = lifting.push_back(centre, ego_xy, prior, yaw, cfg.push_back_axes)
            local = (centre - trans) @ rot  # back to the LiDAR frame
            w, l, h = (float(s) for s in prior)
            yaw_l = math.atan2(math.sin(yaw - yaw_l2g), math.cos(yaw - yaw_l2g))
            boxes.append(PseudoBox(label=m.label, score=float(m.score),
                                   box=np.array([*local, l, w, h, yaw_l]),
                                   num_points=int(len(idx)), camera=m.camera))
        counts['boxes_before_nms'] = len(boxes)
        if cfg.nms and boxes:
            # NMS in the global frame, as the reference (xy distances are frame-invariant
            # for a rotation about z; the LiDAR's ~1 deg tilt changes them by < 0.02 %).
            xy = np.stack([b.box[:3] @ rot.T + trans for b in boxes])[:, :2]
            keep = lifting.circle_nms(xy, np.array([b.score for b in boxes]),
                                      [b.label for b in boxes], cfg.nms_thresholds)
            boxes = [boxes[i] for i in sorted(keep.tolist())]  # input order, as the reference
        counts['boxes'] = len(boxes)
        return boxes, counts
