"""CM3D's lifting of 2D instance masks to 3D boxes, as pure functions (docs/cm3d.md).

CM3D (Khurana et al., "Shelf-Supervised Cross-Modal Pre-Training for 3D Object Detection",
arXiv 2406.10115, Sec. 3.1) turns a 2D instance mask into a 3D box with LiDAR points: the points
that project into the (eroded) mask, their medoid as the object's visible surface point, a box
size from a per-class prior, a yaw from the nearest map lane for vehicles and barriers, and the
centre pushed back along the viewing ray so that the medoid lies on the box's surface; boxes of
one sample are then de-duplicated across cameras by class-wise circle NMS.

Every default below is the reference implementation's (github meharkhurana03/cm3d,
``src/nuscenes/2d_to_3d.py``); where the reference does something unusual the docstring says
what, and a flag selects the alternative.
"""
import math
from typing import Dict, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch

from s3pt_mm.det3d.geometry import project_points, to_homogeneous_4x4

#: Box size priors (w, l, h) in metres, nuScenes order, the reference's ``shape_priors_chatgpt``.
SHAPE_PRIORS: Dict[str, Tuple[float, float, float]] = {
    'car': (1.8, 4.5, 1.4),
    'truck': (2.6, 8.0, 3.6),
    'bus': (2.5, 12.0, 4.0),
    'trailer': (2.6, 12.0, 3.6),
    'construction_vehicle': (2.0, 4.5, 2.5),
    'pedestrian': (0.4, 0.7, 1.7),
    'motorcycle': (0.8, 2.1, 1.7),
    'bicycle': (0.6, 1.8, 1.4),
    'traffic_cone': (0.3, 0.3, 0.7),
    'barrier': (0.5, 1.2, 0.9),
}

#: Classes whose yaw comes from the nearest lane and whose centre is pushed back (reference).
LANE_CLASSES: Tuple[str, ...] = ('car', 'truck', 'bus', 'construction_vehicle', 'trailer',
                                 'barrier')

#: Circle-NMS thresholds on the *squared* xy centre distance (m^2), per class (the reference's,
#: "borrowed from CenterPoint").
CIRCLE_NMS_THRESHOLDS: Dict[str, float] = {
    'barrier': 1.0, 'traffic_cone': 0.175, 'bicycle': 0.85, 'motorcycle': 0.85,
    'pedestrian': 0.175, 'car': 4.0, 'bus': 10.0, 'construction_vehicle': 12.0,
    'trailer': 10.0, 'truck': 12.0,
}

#: nuScenes attribute written for each class (the reference's ``ATTRIBUTE_NAMES``).
DEFAULT_ATTRIBUTES: Dict[str, str] = {
    'barrier': '', 'traffic_cone': '', 'bicycle': 'cycle.without_rider',
    'motorcycle': 'cycle.without_rider', 'pedestrian': 'pedestrian.standing',
    'car': 'vehicle.stopped', 'bus': 'vehicle.stopped', 'construction_vehicle': 'vehicle.stopped',
    'trailer': 'vehicle.stopped', 'truck': 'vehicle.stopped',
}

#: The reference's ``min_dist``: camera depth threshold, and (square-rooted) near-LiDAR filter.
MIN_DIST = 2.3


def near_points_mask(xyz: np.ndarray, min_dist: float = MIN_DIST) -> np.ndarray:
    """Which LiDAR points survive the reference's near-sensor filter.

    The reference drops points with ``|x| < sqrt(min_dist)`` and ``|y| < sqrt(min_dist)`` in the
    LiDAR sensor frame (a 3.03 m square for 2.3, the ego roof), before anything else.

    Args:
        xyz (np.ndarray): (N, >=2) points in the LiDAR sensor frame.
        min_dist (float): the reference's ``min_dist``. Defaults to 2.3.

    Returns:
        np.ndarray: (N,) bool, True = keep.
    """
    half = math.sqrt(min_dist)
    return ~((np.abs(xyz[:, 0]) < half) & (np.abs(xyz[:, 1]) < half))


def erode_mask(mask: np.ndarray, size: int = 3) -> np.ndarray:
    """Binary erosion with a ``size`` x ``size`` square, as ``cv2.erode`` with a ones kernel.

    OpenCV's default border for erosion counts pixels outside the image as set, so a mask that
    touches the image border is not eroded from that side (the reference's behaviour).

    Args:
        mask (np.ndarray): (H, W) bool / 0-1 mask.
        size (int): kernel side; 0 or 1 = no erosion. Defaults to 3.

    Returns:
        np.ndarray: (H, W) bool eroded mask.
    """
    mask = np.asarray(mask).astype(np.uint8)
    if size <= 1:
        return mask.astype(bool)
    return cv2.erode(mask, np.ones((size, size), np.uint8)).astype(bool)


def project_to_image(xyz: np.ndarray, lidar2cam: np.ndarray, cam2img: np.ndarray,
                     scale: float = 1.0) -> Tuple[np.ndarray, np.ndarray]:
    """Project LiDAR-frame points into a camera with ``s3pt_mm.det3d.geometry.project_points``.

    Args:
        xyz (np.ndarray): (N, 3) LiDAR-frame points.
        lidar2cam (np.ndarray): (4, 4) LiDAR -> camera transform.
        cam2img (np.ndarray): (3, 3) or (4, 4) intrinsics of the full-size image.
        scale (float): mask size / image size. The intrinsics are multiplied by it with
            ``K[2, 2]`` kept 1, as the reference does for its 0.64-scaled masks. Defaults to 1.

    Returns:
        Tuple[np.ndarray, np.ndarray]: (N, 2) float64 image coordinates (u, v) in the mask's
        pixels and (N,) camera depths.
    """
    k = to_homogeneous_4x4(cam2img)
    k[:3, :3] *= scale
    k[2, 2] = 1.0
    lidar2img = torch.from_numpy(k @ np.asarray(lidar2cam, dtype=np.float64))
    uv, depth = project_points(torch.from_numpy(np.asarray(xyz, dtype=np.float64)), lidar2img)
    return uv.numpy(), depth.numpy()


def points_in_mask(uv: np.ndarray, depth: np.ndarray, mask: np.ndarray,
                   min_depth: float = MIN_DIST, pixel_convention: str = 'reference'
                   ) -> np.ndarray:
    """Indices of the points whose projection falls on a set pixel of ``mask``.

    Conventions (``pixel_convention``):

    * ``'reference'`` (default): pixel ``(floor(v), floor(u))``; a point counts when
      ``depth > min_depth``, ``0 < u < W - 1``, ``0 < v < H - 1`` and neither ``floor(u)`` nor
      ``floor(v)`` is 0 (the reference combines its in-mask test with the floored coordinates by
      a logical and, which drops row and column 0). The last row / column are never used.
    * ``'centre'``: pixel centres at integer coordinates (the convention of
      ``s3pt_mm.ops.project_points_to_depth``), pixel ``(floor(v + 0.5), floor(u + 0.5))``,
      every pixel of the image usable.

    Args:
        uv (np.ndarray): (N, 2) image coordinates from :func:`project_to_image`.
        depth (np.ndarray): (N,) camera depths.
        mask (np.ndarray): (H, W) bool mask.
        min_depth (float): points at or nearer than this depth are ignored. Defaults to 2.3.
        pixel_convention (str): ``'reference'`` or ``'centre'``. Defaults to ``'reference'``.

    Returns:
        np.ndarray: (M,) int64 indices into the points, ascending.

    Raises:
        ValueError: for an unknown ``pixel_convention`` or a mask that is not 2-D.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f'mask must be (H, W), got shape {mask.shape}')
    height, width = mask.shape
    u, v = uv[:, 0], uv[:, 1]
    with np.errstate(invalid='ignore'):
        if pixel_convention == 'reference':
            ok = (depth > min_depth) & (u > 0) & (u < width - 1) & (v > 0) & (v < height - 1)
            col = np.floor(u[ok]).astype(np.int64)
            row = np.floor(v[ok]).astype(np.int64)
            hit = mask[row, col] & (col != 0) & (row != 0)
        elif pixel_convention == 'centre':
            ok = (depth > min_depth) & (u >= -0.5) & (u < width - 0.5) & (v >= -0.5) & (
                v < height - 0.5)
            col = np.floor(u[ok] + 0.5).astype(np.int64)
            row = np.floor(v[ok] + 0.5).astype(np.int64)
            hit = mask[row, col]
        else:
            raise ValueError(f"pixel_convention must be 'reference' or 'centre', got "
                             f'{pixel_convention!r}')
    return np.flatnonzero(ok)[hit]


def medoid_index(xyz: np.ndarray) -> int:
    """Index of the medoid: the point with the smallest sum of Euclidean distances to all.

    Ties go to the first such point (``argmin``), as in the reference.

    Args:
        xyz (np.ndarray): (N, 3) points, N >= 1.

    Returns:
        int: index into ``xyz``.
    """
    pts = torch.from_numpy(np.asarray(xyz, dtype=np.float64))
    return int(torch.cdist(pts, pts).sum(dim=0).argmin())


def object_centre(xyz: np.ndarray, method: str = 'medoid') -> np.ndarray:
    """The visible-surface point a box is built around: medoid (reference) or mean.

    Args:
        xyz (np.ndarray): (N, 3) in-mask points, N >= 1.
        method (str): ``'medoid'`` or ``'mean'`` (ablation). Defaults to ``'medoid'``.

    Returns:
        np.ndarray: (3,) float64.

    Raises:
        ValueError: for an unknown method or no points.
    """
    if len(xyz) == 0:
        raise ValueError('object_centre needs at least one point')
    if method == 'medoid':
        return np.asarray(xyz[medoid_index(xyz)], dtype=np.float64)
    if method == 'mean':
        return np.asarray(xyz, dtype=np.float64).mean(axis=0)
    raise ValueError(f"method must be 'medoid' or 'mean', got {method!r}")


def ray_exit_distance(ray_angle: float, yaw: float, along: float, across: float) -> float:
    """Distance from a box centre to its boundary along a horizontal ray.

    For a rectangle with extent ``along`` in the heading direction ``yaw`` and ``across``
    perpendicular to it, the ray at angle ``ray_angle`` leaves it after
    ``min(along / (2 |cos d|), across / (2 |sin d|))`` with ``d = yaw - ray_angle``.

    Args:
        ray_angle (float): ray direction, radians.
        yaw (float): box heading, radians.
        along (float): box extent along the heading.
        across (float): box extent across the heading.

    Returns:
        float: the distance (inf never occurs: one of cos / sin is non-zero).
    """
    d = yaw - ray_angle
    with np.errstate(divide='ignore'):
        return float(min(abs(along / (2.0 * np.cos(d))), abs(across / (2.0 * np.sin(d)))))


def push_back(centre: np.ndarray, origin: np.ndarray, size_wlh: Sequence[float], yaw: float,
              axes: str = 'reference') -> np.ndarray:
    """Move a surface point away from the sensor origin to the box centre behind it.

    The point is moved in the xy plane along the ray from ``origin`` through it by
    :func:`ray_exit_distance`, so that it ends on the box boundary seen from the origin; z is
    kept. ``axes`` selects the extents used:

    * ``'reference'`` (default): the reference passes the nuScenes-order prior ``(w, l, h)`` to a
      function that reads ``l = size[0]``, ``w = size[1]``, i.e. the box *width* is taken along
      the heading and the *length* across it;
    * ``'exact'``: length along the heading, width across it (the geometry of the box written).

    Args:
        centre (np.ndarray): (3,) surface point (medoid), same frame as ``origin``.
        origin (np.ndarray): (>=2,) the sensor / ego position the ray starts from.
        size_wlh (Sequence[float]): box size (w, l, h).
        yaw (float): box heading in that frame.
        axes (str): ``'reference'`` or ``'exact'``. Defaults to ``'reference'``.

    Returns:
        np.ndarray: (3,) pushed centre.

    Raises:
        ValueError: for an unknown ``axes``.
    """
    width, length = float(size_wlh[0]), float(size_wlh[1])
    if axes == 'reference':
        along, across = width, length
    elif axes == 'exact':
        along, across = length, width
    else:
        raise ValueError(f"axes must be 'reference' or 'exact', got {axes!r}")
    centre = np.asarray(centre, dtype=np.float64)
    ray = centre[:2] - np.asarray(origin, dtype=np.float64)[:2]
    alpha = math.atan2(ray[1], ray[0])
    offset = ray_exit_distance(alpha, yaw, along, across)
    return np.array([centre[0] + offset * math.cos(alpha), centre[1] + offset * math.sin(alpha),
                     centre[2]])


def nearest_lane(xy: np.ndarray, lane_poses: np.ndarray) -> Tuple[Optional[float], float]:
    """Yaw of the discretised lane pose nearest to ``xy`` (the reference's lane prior).

    Args:
        xy (np.ndarray): (2,) query position (frame of the poses).
        lane_poses (np.ndarray): (M, 3) lane poses (x, y, yaw); M may be 0.

    Returns:
        Tuple[Optional[float], float]: the yaw (None without lanes) and the distance to that
        pose (inf without lanes).
    """
    if len(lane_poses) == 0:
        return None, math.inf
    d = np.hypot(lane_poses[:, 0] - xy[0], lane_poses[:, 1] - xy[1])
    k = int(np.argmin(d))
    return float(lane_poses[k, 2]), float(d[k])


def circle_nms(xy: np.ndarray, scores: np.ndarray, labels: Sequence[str],
               thresholds: Mapping[str, float] = CIRCLE_NMS_THRESHOLDS) -> np.ndarray:
    """Class-wise circle NMS on box centres (boxes of all cameras of one sample together).

    Boxes are visited by decreasing score (``np.argsort(scores)[::-1]``: among equal scores the
    reverse of numpy's default argsort order, as the reference); each kept box suppresses the
    later boxes of its class whose squared xy distance is <= ``thresholds[class]``.

    Args:
        xy (np.ndarray): (N, 2) centres.
        scores (np.ndarray): (N,) scores.
        labels (Sequence[str]): (N,) class names.
        thresholds (Mapping[str, float]): squared-distance threshold per class. A class missing
            from it suppresses nothing.

    Returns:
        np.ndarray: int64 indices of the kept boxes, in visiting order.
    """
    n = len(scores)
    order = np.argsort(np.asarray(scores))[::-1]
    suppressed = np.zeros(n, dtype=bool)
    keep = []
    for a, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if suppressed[j] or labels[j] != labels[i]:
                continue
            dist2 = (xy[i, 0] - xy[j, 0])**2 + (xy[i, 1] - xy[j, 1])**2
            if dist2 <= thresholds.get(labels[j], -1.0):
                suppressed[j] = True
    return np.asarray(keep, dtype=np.int64)
