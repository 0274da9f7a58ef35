"""Per-pixel instance ids and lane geometry of synthetic scenes (inputs of CM3D, docs/cm3d.md).

Files written by ``generate_dataset`` in addition to the nuScenes layout:

    instance/<CAM>/<stem>.png     uint16 (H, W): 0 = no annotated actor, k = actor k - 1
    instance/<logfile>.json       {"instances": {"k": {category, detection_name,
                                  instance_token}}} for every actor k - 1 of the scene
    lanes/<logfile>.json          driving-lane centre lines in the global frame, discretised
                                  every ``resolution`` metres as (x, y, yaw) poses, like
                                  nuscenes-devkit's ``NuScenesMap.discretize_lanes``

``<logfile>`` is the part of every sensor file name before the first ``__``, so a sample's
LiDAR file name leads to its scene's lane and instance tables (as a real nuScenes file name
leads to its log and map).
"""
import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from PIL import Image

from .classes import CATEGORY_TO_DETECTION

#: Spacing of the discretised lane poses, metres (the value CM3D passes to discretize_lanes).
LANE_RESOLUTION = 0.5


def instance_id_map(part_map: np.ndarray, part_object: np.ndarray,
                    object_actor: np.ndarray) -> np.ndarray:
    """Per-pixel actor ids from a rendered part map.

    Args:
        part_map (np.ndarray): (H, W) int part index seen by each pixel (< 0: ground / sky).
        part_object (np.ndarray): (num_parts,) object of every part (``Parts.obj``).
        object_actor (np.ndarray): (num_objects,) actor of every object (-1 = static scenery).

    Returns:
        np.ndarray: (H, W) uint16, actor index + 1 where a pixel sees an actor, else 0.
    """
    ids = np.zeros(part_map.shape, dtype=np.uint16)
    on_part = part_map >= 0
    actor = object_actor[part_object[part_map[on_part]]]
    ids[on_part] = np.where(actor >= 0, actor + 1, 0).astype(np.uint16)
    return ids


def write_instance_map(path: Path, ids: np.ndarray) -> None:
    """Write an instance-id map as a 16-bit grey PNG (lossless)."""
    Image.fromarray(ids.astype(np.uint16)).save(path)


def read_instance_map(path: str) -> np.ndarray:
    """Read an instance-id map written by :func:`write_instance_map`.

    Returns:
        np.ndarray: (H, W) int64 ids (0 = background).

    Raises:
        FileNotFoundError: if ``path`` does not exist.
    """
    with Image.open(path) as img:
        return np.asarray(img).astype(np.int64)


def lane_poses(lanes_per_direction: int, lane_width: float, x_range: Sequence[float],
               world2global: np.ndarray, resolution: float = LANE_RESOLUTION) -> List[Dict]:
    """Centre lines of a straight street's driving lanes as global (x, y, yaw) poses.

    Lane ``i`` on side ``s`` (``s = -1`` right of the centre line, traffic in +x; ``s = +1``
    oncoming, traffic in -x) is the line ``y = s (i + 0.5) lane_width`` of the world frame,
    sampled from ``x_range[0]`` every ``resolution`` metres in the driving direction.

    Args:
        lanes_per_direction (int): lanes on each side.
        lane_width (float): lane width, metres.
        x_range (Sequence[float]): street extent along world x.
        world2global (np.ndarray): (4, 4) world -> global pose (rotation about z).
        resolution (float): spacing of the poses. Defaults to 0.5.

    Returns:
        List[Dict]: one ``{'id': str, 'poses': [[x, y, yaw], ...]}`` per lane (global frame,
        yaw in radians, the lane's driving direction).
    """
    theta = float(np.arctan2(world2global[1, 0], world2global[0, 0]))
    x0, x1 = float(x_range[0]), float(x_range[1])
    xs = np.arange(x0, x1 + 1e-9, resolution)
    lanes = []
    for side in (-1, 1):
        heading = 0.0 if side < 0 else np.pi
        order = xs if side < 0 else xs[::-1]
        for i in range(lanes_per_direction):
            world = np.stack([order, np.full_like(order, side * (i + 0.5) * lane_width),
                              np.zeros_like(order)], axis=1)
            glob = world @ world2global[:3, :3].T + world2global[:3, 3]
            yaw = np.arctan2(np.sin(heading + theta), np.cos(heading + theta))
            poses = np.concatenate([glob[:, :2], np.full((len(order), 1), yaw)], axis=1)
            lanes.append({'id': f'lane{"R" if side < 0 else "L"}{i}',
                          'poses': np.round(poses, 6).tolist()})
    return lanes


def write_lanes(path: Path, logfile: str, lanes: List[Dict],
                resolution: float = LANE_RESOLUTION) -> None:
    """Write a scene's lanes (:func:`lane_poses`) as JSON."""
    Path(path).write_text(json.dumps({'logfile': logfile, 'resolution': resolution,
                                      'frame': 'global', 'lanes': lanes}))


def write_instance_table(path: Path, actors: Sequence, instance_tokens: Sequence[str]) -> None:
    """Write the id -> actor table of a scene's instance maps as JSON.

    Args:
        path (Path): output file.
        actors (Sequence): the scene's actors (``category`` attribute each).
        instance_tokens (Sequence[str]): nuScenes instance token of every actor.
    """
    table = {str(k + 1): {'category': a.category,
                          'detection_name': CATEGORY_TO_DETECTION.get(a.category),
                          'instance_token': tok}
             for k, (a, tok) in enumerate(zip(actors, instance_tokens))}
    Path(path).write_text(json.dumps({'instances': table}))
