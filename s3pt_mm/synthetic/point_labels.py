"""Per-point semantic labels of a simulated LiDAR sweep (the lidarseg ground truth).

Written by the generator as ``lidarseg/<stem>.bin``: uint8, one ``SEMANTIC_CLASSES`` id per
point of ``samples/LIDAR_TOP/<stem>.pcd.bin``, in the same order (ids 0-15 are the
nuScenes-lidarseg 16-class challenge set; the LiDAR never returns ``sky``). The labels come
from the same ray hits as the points and the camera label maps, so a point and the pixel it
projects onto (when not occluded) carry the same class.
"""
from pathlib import Path

import numpy as np

from .classes import SEMANTIC_ID
from .raycast import GROUND, Parts
from .scene_layout import RoadLayout

__all__ = ['lidar_point_labels', 'lidarseg_path', 'load_lidarseg']


def lidar_point_labels(points: np.ndarray, part: np.ndarray, parts: Parts,
                       layout: RoadLayout, lidar2world: np.ndarray) -> np.ndarray:
    """Semantic id of every return.

    Args:
        points (np.ndarray): (N, >=3) points in the LiDAR frame.
        part (np.ndarray): (N,) part index hit by each return (``GROUND`` = ground plane).
        parts (Parts): the sample's parts.
        layout (RoadLayout): the street (ground labels by lateral position).
        lidar2world (np.ndarray): (4, 4) LiDAR -> world pose.

    Returns:
        np.ndarray: (N,) uint8 ``SEMANTIC_CLASSES`` ids.
    """
    labels = np.full(len(part), SEMANTIC_ID['manmade'], dtype=np.uint8)
    on_part = part >= 0
    labels[on_part] = parts.semantic[part[on_part]]
    on_ground = part == GROUND
    world_y = points[on_ground, :3].astype(np.float64) @ lidar2world[1, :3] + lidar2world[1, 3]
    labels[on_ground] = layout.ground_semantic(world_y)
    return labels


def lidarseg_path(root, lidar_file: str) -> Path:
    """``lidarseg/<stem>.bin`` for ``samples/LIDAR_TOP/<stem>.pcd.bin`` under ``root``."""
    name = Path(lidar_file).name
    if not name.endswith('.pcd.bin'):
        raise ValueError(f'expected a .pcd.bin LiDAR file, got {lidar_file!r}')
    return Path(root) / 'lidarseg' / (name[:-len('.pcd.bin')] + '.bin')


def load_lidarseg(path, num_points: int) -> np.ndarray:
    """Read a label file and check it has one label per point.

    Raises:
        FileNotFoundError: if the file is missing.
        ValueError: if its length differs from ``num_points`` (file named).
    """
    labels = np.fromfile(str(path), dtype=np.uint8)
    if labels.shape[0] != num_points:
        raise ValueError(f'{path}: {labels.shape[0]} labels for {num_points} points')
    return labels
