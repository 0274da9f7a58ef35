"""Records of a generated dataset and the writer of nuScenes' 13 JSON tables and map masks.

The generator fills ``SceneRecord``/``SampleRecord``/``AnnotationRecord`` objects (plain data in
nuScenes' global frame); ``write_nuscenes_tables`` turns them into the tables nuscenes-devkit
1.2.0 loads (``DIR/<version>/{attribute,calibrated_sensor,category,ego_pose,instance,log,map,
sample,sample_annotation,sample_data,scene,sensor,visibility}.json``) and
``write_map_mask`` draws each scene's semantic-prior map PNG. Tokens come from ``make_token``
(an MD5 of the seed and the record's identity), so they are deterministic for a seed.
"""
import hashlib
import json
import os.path as osp
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from .camera_rig import CAMERAS, LIDAR_TOP, SensorCalibration
from .classes import NUSCENES_ATTRIBUTES, NUSCENES_CATEGORIES, NUSCENES_VISIBILITY
from .geometry import invert_pose, matrix_to_quaternion
from .scene_layout import RoadLayout

#: Resolution of the map masks in metres per pixel (nuscenes-devkit's default).
MAP_RESOLUTION = 0.1


def make_token(*key: object) -> str:
    """32-hex-digit token of a record: MD5 of its '/'-joined identity (seed, table, indices)."""
    return hashlib.md5('/'.join(str(k) for k in key).encode()).hexdigest()


@dataclass
class AnnotationRecord:
    """One annotated box (nuScenes ``sample_annotation``), global frame.

    Attributes:
        token (str): annotation token.
        instance_token (str): token of the actor's ``instance``.
        category (str): nuScenes category name.
        attribute (Optional[str]): nuScenes attribute name or None.
        translation (np.ndarray): (3,) box centre (global).
        size (np.ndarray): (3,) width, length, height.
        rotation (np.ndarray): (4,) box orientation quaternion (w, x, y, z), global.
        num_lidar_pts (int): LiDAR returns on the actor in this sample.
        visibility (str): visibility token '1'..'4'.
        prev (str): previous annotation of the same instance ('' if none).
        next (str): next annotation of the same instance ('' if none).
    """

    token: str
    instance_token: str
    category: str
    attribute: Optional[str]
    translation: np.ndarray
    size: np.ndarray
    rotation: np.ndarray
    num_lidar_pts: int
    visibility: str
    prev: str = ''
    next: str = ''


@dataclass
class SampleDataRecord:
    """One sensor file of a sample (nuScenes ``sample_data``; its ``ego_pose`` shares the token)."""

    token: str
    channel: str
    filename: str
    width: int
    height: int
    fileformat: str
    calibrated_sensor_token: str
    prev: str = ''
    next: str = ''


@dataclass
class SampleRecord:
    """One keyframe: every sensor captures at ``timestamp`` from the pose ``ego2global``."""

    token: str
    timestamp: int
    ego2global: np.ndarray
    data: Dict[str, SampleDataRecord]
    annotations: List[AnnotationRecord]
    prev: str = ''
    next: str = ''


@dataclass
class SceneRecord:
    """One scene with its log, map and calibration."""

    token: str
    name: str
    description: str
    log_token: str
    logfile: str
    location: str
    map_token: str
    map_filename: str
    calibrated_sensor_tokens: Dict[str, str]
    cam2img: Dict[str, np.ndarray]
    samples: List[SampleRecord] = field(default_factory=list)


def _sensor_token(seed: int, channel: str) -> str:
    return make_token(seed, 'sensor', channel)


def _calibrated_sensor_record(token: str, seed: int, sensor: SensorCalibration,
                              cam2img: Optional[np.ndarray]) -> dict:
    return {'token': token, 'sensor_token': _sensor_token(seed, sensor.channel),
            'translation': list(sensor.translation),
            'rotation': (np.asarray(sensor.rotation) / np.linalg.norm(sensor.rotation)).tolist(),
            'camera_intrinsic': cam2img.tolist() if cam2img is not None else []}


def _pose_record(token: str, timestamp: int, ego2global: np.ndarray) -> dict:
    return {'token': token, 'timestamp': timestamp,
            'rotation': matrix_to_quaternion(ego2global[:3, :3]).tolist(),
            'translation': ego2global[:3, 3].tolist()}


def build_nuscenes_tables(scenes: Sequence[SceneRecord], seed: int) -> Dict[str, List[dict]]:
    """Assemble the 13 nuScenes tables from scene records.

    Args:
        scenes (Sequence[SceneRecord]): the generated scenes, in order.
        seed (int): dataset seed (part of the static tables' tokens).

    Returns:
        Dict[str, List[dict]]: table name -> records.
    """
    tables: Dict[str, List[dict]] = {name: [] for name in (
        'attribute', 'calibrated_sensor', 'category', 'ego_pose', 'instance', 'log', 'map',
        'sample', 'sample_annotation', 'sample_data', 'scene', 'sensor', 'visibility')}
    attribute_token = {name: make_token(seed, 'attribute', name) for name in NUSCENES_ATTRIBUTES}
    category_token = {name: make_token(seed, 'category', name) for name in NUSCENES_CATEGORIES}
    tables['attribute'] = [{'token': attribute_token[n], 'name': n, 'description': d}
                           for n, d in NUSCENES_ATTRIBUTES.items()]
    tables['category'] = [{'token': category_token[n], 'name': n, 'description': d, 'index': i}
                          for i, (n, d) in enumerate(NUSCENES_CATEGORIES.items())]
    tables['visibility'] = [{'token': t, 'level': level, 'description': d}
                            for t, (level, d) in NUSCENES_VISIBILITY.items()]
    tables['sensor'] = ([{'token': _sensor_token(seed, c.channel), 'channel': c.channel,
                          'modality': 'camera'} for c in CAMERAS]
                        + [{'token': _sensor_token(seed, LIDAR_TOP.channel),
                            'channel': LIDAR_TOP.channel, 'modality': 'lidar'}])
    for scene in scenes:
        tables['log'].append({'token': scene.log_token, 'logfile': scene.logfile,
                              'vehicle': 'synthetic-ego', 'date_captured': '2020-09-13',
                              'location': scene.location})
        tables['map'].append({'token': scene.map_token, 'log_tokens': [scene.log_token],
                              'category': 'semantic_prior', 'filename': scene.map_filename})
        for cam in CAMERAS:
            tables['calibrated_sensor'].append(_calibrated_sensor_record(
                scene.calibrated_sensor_tokens[cam.channel], seed, cam, scene.cam2img[cam.channel]))
        tables['calibrated_sensor'].append(_calibrated_sensor_record(
            scene.calibrated_sensor_tokens[LIDAR_TOP.channel], seed, LIDAR_TOP, None))
        tables['scene'].append({'token': scene.token, 'log_token': scene.log_token,
                                'nbr_samples': len(scene.samples),
                                'first_sample_token': scene.samples[0].token,
                                'last_sample_token': scene.samples[-1].token,
                                'name': scene.name, 'description': scene.description})
        instances: Dict[str, dict] = {}
        for sample in scene.samples:
            tables['sample'].append({'token': sample.token, 'timestamp': sample.timestamp,
                                     'prev': sample.prev, 'next': sample.next,
                                     'scene_token': scene.token})
            for sd in sample.data.values():
                tables['ego_pose'].append(
                    _pose_record(sd.token, sample.timestamp, sample.ego2global))
                tables['sample_data'].append({
                    'token': sd.token, 'sample_token': sample.token, 'ego_pose_token': sd.token,
                    'calibrated_sensor_token': sd.calibrated_sensor_token,
                    'timestamp': sample.timestamp, 'fileformat': sd.fileformat,
                    'is_key_frame': True, 'height': sd.height, 'width': sd.width,
                    'filename': sd.filename, 'prev': sd.prev, 'next': sd.next})
            for ann in sample.annotations:
                tables['sample_annotation'].append({
                    'token': ann.token, 'sample_token': sample.token,
                    'instance_token': ann.instance_token, 'visibility_token': ann.visibility,
                    'attribute_tokens': [attribute_token[ann.attribute]] if ann.attribute else [],
                    'translation': ann.translation.tolist(), 'size': ann.size.tolist(),
                    'rotation': ann.rotation.tolist(), 'prev': ann.prev, 'next': ann.next,
                    'num_lidar_pts': int(ann.num_lidar_pts), 'num_radar_pts': 0})
                inst = instances.setdefault(ann.instance_token, {
                    'token': ann.instance_token, 'category_token': category_token[ann.category],
                    'nbr_annotations': 0, 'first_annotation_token': ann.token,
                    'last_annotation_token': ann.token})
                inst['nbr_annotations'] += 1
                inst['last_annotation_token'] = ann.token
        tables['instance'].extend(instances.values())
    return tables


def write_nuscenes_tables(out_dir: str, version: str, scenes: Sequence[SceneRecord],
                          seed: int) -> Path:
    """Write the 13 nuScenes JSON tables to ``out_dir/version``.

    Args:
        out_dir (str): dataset root (nuScenes ``dataroot``).
        version (str): version folder name, e.g. ``'v1.0-synthetic'``.
        scenes (Sequence[SceneRecord]): the generated scenes.
        seed (int): dataset seed.

    Returns:
        Path: the table folder.
    """
    table_dir = Path(out_dir) / version
    table_dir.mkdir(parents=True, exist_ok=True)
    for name, records in build_nuscenes_tables(scenes, seed).items():
        with open(table_dir / f'{name}.json', 'w') as f:
            json.dump(records, f, indent=0)
    return table_dir


def write_map_mask(path: str, layout: RoadLayout, world2global: np.ndarray,
                   resolution: float = MAP_RESOLUTION) -> None:
    """Draw a scene's semantic-prior map (road and sidewalks = 255, else 0) as a PNG.

    nuscenes-devkit's ``MapMask`` reads pixel (row r, column c) as global
    (x, y) = (c * res, (rows - r) * res); the image covers the street's global bounding box from
    the global origin, plus 20 m.

    Args:
        path (str): output PNG path.
        layout (RoadLayout): the street (world frame).
        world2global (np.ndarray): (4, 4) world -> global pose.
        resolution (float): metres per pixel. Defaults to 0.1.
    """
    x0, x1 = layout.x_range
    y = layout.y_half_extent
    corners = np.array([[x0, -y, 0], [x1, -y, 0], [x0, y, 0], [x1, y, 0]])
    glob = corners @ world2global[:3, :3].T + world2global[:3, 3]
    cols = int(np.ceil((glob[:, 0].max() + 20.0) / resolution))
    rows = int(np.ceil((glob[:, 1].max() + 20.0) / resolution))
    global2world = invert_pose(world2global)
    mask = np.zeros((rows, cols), dtype=np.uint8)
    for r0 in range(0, rows, 512):  # row blocks keep memory small for large maps
        r = np.arange(r0, min(rows, r0 + 512), dtype=np.float64)
        # nuscenes-devkit rounds global / resolution to the pixel: pixel centres at c * res.
        gx = np.arange(cols) * resolution
        gy = (rows - r) * resolution
        gx, gy = np.meshgrid(gx, gy)
        wx = global2world[0, 0] * gx + global2world[0, 1] * gy + global2world[0, 3]
        wy = global2world[1, 0] * gx + global2world[1, 1] * gy + global2world[1, 3]
        mask[r0:r0 + len(r)] = np.where(layout.on_semantic_prior(wx, wy), 255, 0)
    Path(osp.dirname(path)).mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(path)
