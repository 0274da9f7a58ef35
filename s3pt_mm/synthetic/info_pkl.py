"""mmdet3d 1.x nuScenes info files (``info_version`` 1.1) for generated scenes.

Same layout and key set as mmdet3d's converter (``tools/create_data.py nuscenes`` followed by
``update_infos_to_v2``) writes, and as the real keyframe pkl in ``../shared``:

* ``images[CAM]``: ``img_path`` (bare file name; mmdet3d joins ``data_prefix[CAM]``, i.e.
  ``samples/<CAM>``), ``cam2img`` (3x3), ``cam2ego``, ``sample_data_token``, ``timestamp``
  (seconds), ``lidar2cam``;
* ``lidar_points``: ``num_pts_feats`` 5, ``lidar_path`` (bare name, under ``samples/LIDAR_TOP``),
  ``lidar2ego``;
* ``instances``: ``bbox_3d`` = gravity centre x, y, z, l, w, h, yaw in the LiDAR frame with
  l = nuScenes size[1], w = size[0] and the box heading's yaw (checked against the real pkl:
  its boxes contain exactly their ``num_lidar_pts`` points with this convention),
  ``bbox_label(_3d)`` over the 10 detection classes, ``velocity`` (vx, vy) in the LiDAR frame
  from nuScenes' ``box_velocity`` (NaN for single annotations, as the converter writes),
  ``num_lidar_pts``, ``num_radar_pts`` 0, ``bbox_3d_isvalid`` = num_lidar_pts > 0;
* ``cam_instances[CAM]``: mmdet3d's ``get_2d_boxes(mono3d=True)``: 2-D ``bbox`` = bounds of the
  convex hull of the projected in-front corners clipped to the image, ``bbox_3d`` = camera-frame
  centre, (l, h, w), yaw = -pyquaternion yaw of the camera-frame orientation, ``velocity``
  (vx, vz) in the camera frame, ``center_2d``, ``depth``, ``attr_label``.
"""
import pickle
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .camera_rig import CAMERAS, LIDAR_TOP
from .classes import DETECTION_CLASSES, attribute_label, detection_label
from .geometry import invert_pose, quaternion_to_matrix
from .nuscenes_tables import AnnotationRecord, SampleRecord, SceneRecord

INFO_VERSION = '1.1'


def pyquaternion_yaw(rot: np.ndarray) -> float:
    """``pyquaternion.Quaternion(matrix=rot).yaw_pitch_roll[0]`` without pyquaternion.

    pyquaternion computes yaw = atan2(2 (w z - x y), 1 - 2 (y^2 + z^2)) = atan2(-R01, R00); for a
    rotation about z alone this is the usual heading angle. mmdet3d's converter uses it for both
    the LiDAR-frame and (negated) the camera-frame box yaw.

    Args:
        rot (np.ndarray): (3, 3) rotation matrix.

    Returns:
        float: yaw in (-pi, pi].
    """
    return float(np.arctan2(-rot[0, 1], rot[0, 0]))


def box_velocity(annotations: Dict[str, Tuple[AnnotationRecord, int]], token: str,
                 max_time_diff: float = 1.5) -> np.ndarray:
    """nuscenes-devkit's ``NuScenes.box_velocity`` on generated records.

    Centred difference of the previous and next annotation positions over their time difference
    (one-sided at the ends of an instance's track); NaN for a single annotation or when the time
    difference exceeds ``max_time_diff`` (doubled for a centred difference).

    Args:
        annotations (Dict[str, Tuple[AnnotationRecord, int]]): token -> (record, sample timestamp
            in microseconds).
        token (str): annotation token.
        max_time_diff (float): seconds. Defaults to 1.5.

    Returns:
        np.ndarray: (3,) global velocity in m/s.
    """
    current, _ = annotations[token]
    if not current.prev and not current.next:
        return np.full(3, np.nan)
    first, t_first = annotations[current.prev] if current.prev else annotations[token]
    last, t_last = annotations[current.next] if current.next else annotations[token]
    time_diff = 1e-6 * (t_last - t_first)
    if current.prev and current.next:
        max_time_diff *= 2
    if time_diff > max_time_diff:
        return np.full(3, np.nan)
    return (np.asarray(last.translation) - np.asarray(first.translation)) / time_diff


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull of (N, 2) points (Andrew's monotone chain)."""
    pts = sorted(set(map(tuple, points)))
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def _clip_polygon(poly: np.ndarray, width: float, height: float) -> np.ndarray:
    """Sutherland-Hodgman clip of a convex polygon (M, 2) to [0, width] x [0, height]."""
    out = [tuple(p) for p in poly]
    for axis, bound, keep_below in ((0, 0.0, False), (0, width, True), (1, 0.0, False),
                                    (1, height, True)):
        src, out = out, []
        for i, cur in enumerate(src):
            prev = src[i - 1]
            cur_in = cur[axis] <= bound if keep_below else cur[axis] >= bound
            prev_in = prev[axis] <= bound if keep_below else prev[axis] >= bound
            if cur_in != prev_in:
                s = (bound - prev[axis]) / (cur[axis] - prev[axis])
                out.append(tuple(prev[k] + s * (cur[k] - prev[k]) for k in range(2)))
            if cur_in:
                out.append(cur)
        if not out:
            break
    return np.array(out).reshape(-1, 2)


def image_bbox(corners_cam: np.ndarray, cam2img: np.ndarray, width: int, height: int
               ) -> Optional[List[float]]:
    """2-D box of a 3-D box the way mmdet3d's ``post_process_coords`` computes it.

    Projects the corners with z > 0, takes their convex hull, intersects it with the image
    rectangle [0, W] x [0, H] and returns the intersection's bounds.

    Args:
        corners_cam (np.ndarray): (8, 3) box corners in the camera frame.
        cam2img (np.ndarray): (3, 3) intrinsics.
        width (int): image width.
        height (int): image height.

    Returns:
        Optional[List[float]]: [x1, y1, x2, y2], or None if the hull misses the image.
    """
    front = corners_cam[corners_cam[:, 2] > 0]
    if len(front) == 0:
        return None
    uvw = front @ cam2img.T
    uv = uvw[:, :2] / uvw[:, 2:3]
    hull = _convex_hull(uv)
    if len(hull) < 3:
        return None
    clipped = _clip_polygon(hull, float(width), float(height))
    if len(clipped) < 3:
        return None
    lo, hi = clipped.min(0), clipped.max(0)
    if hi[0] - lo[0] <= 0 or hi[1] - lo[1] <= 0:
        return None
    return [float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])]


def _box_corners_global(ann: AnnotationRecord) -> np.ndarray:
    """(8, 3) corners of a nuScenes box (x = length, y = width, z = height in the box frame)."""
    w, l, h = ann.size
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    local = signs * np.array([l, w, h]) / 2
    return local @ quaternion_to_matrix(ann.rotation).T + ann.translation


def build_info(sample: SampleRecord, scene: SceneRecord, sample_idx: int,
               annotations: Dict[str, Tuple[AnnotationRecord, int]]) -> dict:
    """One ``data_list`` entry for a generated sample.

    Args:
        sample (SampleRecord): the sample.
        scene (SceneRecord): its scene (calibration).
        sample_idx (int): index of the sample in the info file's ``data_list``.
        annotations (Dict[str, Tuple[AnnotationRecord, int]]): every annotation of the scene,
            token -> (record, sample timestamp), for ``box_velocity``.

    Returns:
        dict: the info entry (plain Python lists and floats, like mmdet3d writes).
    """
    ego2global = sample.ego2global
    lidar2ego = LIDAR_TOP.sensor2ego
    global2lidar = invert_pose(ego2global @ lidar2ego)
    timestamp = sample.timestamp / 1e6
    images = {}
    cam_poses = {}
    for cam in CAMERAS:
        cam2ego = cam.sensor2ego
        sd = sample.data[cam.channel]
        images[cam.channel] = {
            'img_path': Path(sd.filename).name,
            'cam2img': scene.cam2img[cam.channel].tolist(),
            'cam2ego': cam2ego.tolist(),
            'sample_data_token': sd.token,
            'timestamp': timestamp,
            'lidar2cam': (invert_pose(cam2ego) @ lidar2ego).tolist(),
        }
        cam_poses[cam.channel] = (invert_pose(ego2global @ cam2ego), sd.width, sd.height)
    instances = []
    cam_instances: Dict[str, list] = {cam.channel: [] for cam in CAMERAS}
    for ann in sample.annotations:
        label = detection_label(ann.category)
        rot_global = quaternion_to_matrix(ann.rotation)
        velocity = box_velocity(annotations, ann.token)
        center = global2lidar[:3, :3] @ ann.translation + global2lidar[:3, 3]
        w, l, h = (float(v) for v in ann.size)
        instances.append({
            'bbox_label': label,
            'bbox_3d': center.tolist() + [l, w, h,
                                          pyquaternion_yaw(global2lidar[:3, :3] @ rot_global)],
            'bbox_3d_isvalid': bool(ann.num_lidar_pts > 0),
            'bbox_label_3d': label,
            'num_lidar_pts': int(ann.num_lidar_pts),
            'num_radar_pts': 0,
            'velocity': (global2lidar[:3, :3] @ velocity)[:2].tolist(),
        })
        corners = _box_corners_global(ann)
        for cam in CAMERAS:
            global2cam, width, height = cam_poses[cam.channel]
            cam2img = scene.cam2img[cam.channel]
            bbox = image_bbox(corners @ global2cam[:3, :3].T + global2cam[:3, 3], cam2img,
                              width, height)
            if bbox is None:
                continue
            center_cam = global2cam[:3, :3] @ ann.translation + global2cam[:3, 3]
            if center_cam[2] <= 0:
                continue
            uv = cam2img @ center_cam
            yaw_cam = -pyquaternion_yaw(global2cam[:3, :3] @ rot_global)
            cam_instances[cam.channel].append({
                'bbox_label': label,
                'bbox_label_3d': label,
                'bbox': bbox,
                'bbox_3d_isvalid': True,
                'bbox_3d': center_cam.tolist() + [l, h, w, yaw_cam],
                'velocity': (global2cam[:3, :3] @ velocity)[0::2].tolist(),
                'center_2d': (uv[:2] / uv[2]).tolist(),
                'depth': float(center_cam[2]),
                'attr_label': attribute_label(ann.attribute),
            })
    return {
        'sample_idx': sample_idx,
        'token': sample.token,
        'timestamp': timestamp,
        'ego2global': ego2global.tolist(),
        'images': images,
        'lidar_points': {'num_pts_feats': 5,
                         'lidar_path': Path(sample.data[LIDAR_TOP.channel].filename).name,
                         'lidar2ego': lidar2ego.tolist()},
        'instances': instances,
        'cam_instances': cam_instances,
    }


def write_info_pkl(path: str, scenes: Sequence[SceneRecord], version: str) -> int:
    """Write the info file of ``scenes``.

    Args:
        path (str): output ``.pkl`` path.
        scenes (Sequence[SceneRecord]): scenes of this split.
        version (str): dataset version for ``metainfo``.

    Returns:
        int: number of samples written.
    """
    data_list = []
    for scene in scenes:
        annotations = {ann.token: (ann, s.timestamp)
                       for s in scene.samples for ann in s.annotations}
        for sample in scene.samples:
            data_list.append(build_info(sample, scene, len(data_list), annotations))
    infos = {'metainfo': {'categories': {name: i for i, name in enumerate(DETECTION_CLASSES)},
                          'dataset': 'nuscenes', 'version': version,
                          'info_version': INFO_VERSION},
             'data_list': data_list}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as f:
        pickle.dump(infos, f, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data_list)
