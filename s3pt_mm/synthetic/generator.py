"""Generate a synthetic nuScenes-format dataset: the glue between scenes, sensors and writers.

``generate_dataset`` builds ``num_scenes`` scenes (scene i from ``numpy.random.default_rng([seed,
i])``, so scenes are independent and can run in worker processes), simulates every sample
(LiDAR + six cameras at one instant), writes the sensor files, depth and label maps as it goes,
and finally the nuScenes tables, map masks and the mmdet3d info pkls. Layout under ``out_dir``:

    v1.0-synthetic/*.json                 the 13 nuScenes tables (``version`` is configurable)
    maps/<map token>.png                  semantic-prior map mask per scene (0.1 m / pixel)
    samples/<CAM>/<stem>.jpg              camera images
    samples/LIDAR_TOP/<stem>.pcd.bin      float32 (x, y, z, intensity, ring) LiDAR frame
    depth_gt/<CAM>/<stem>.npy             float32 (H, W) camera z in metres, 0 = sky / no depth
    semseg/<CAM>/<stem>.png               uint8 (H, W) ``classes.SEMANTIC_CLASSES`` ids
    lidarseg/<stem>.bin                   uint8 (N,) per-point ``SEMANTIC_CLASSES`` ids
                                          of the LIDAR_TOP sweep (``point_labels``)
    instance/<CAM>/<stem>.png             uint16 (H, W) actor index + 1 (0 = none), with
    instance/<logfile>.json, lanes/<logfile>.json   actor table and lane centre lines
                                          (``instance_maps``; CM3D's inputs)
    nuscenes_infos_train.pkl / _val.pkl   mmdet3d info files (val = the last scenes)

with ``<stem>`` = ``<logfile>__<CHANNEL>__<timestamp us>`` like nuScenes' file names.
"""
import multiprocessing
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Tuple

import numpy as np
from PIL import Image

from .camera_rig import CAMERAS, LIDAR_TOP, camera_intrinsics, camera_ray_directions
from .classes import visibility_token
from .geometry import yaw_to_quaternion
from .info_pkl import write_info_pkl
from .instance_maps import (instance_id_map, lane_poses, write_instance_map,
                            write_instance_table, write_lanes)
from .lidar import LidarSpec, simulate_lidar
from .point_labels import lidar_point_labels, lidarseg_path
from .nuscenes_tables import (AnnotationRecord, SampleDataRecord, SampleRecord, SceneRecord,
                              make_token, write_map_mask, write_nuscenes_tables)
from .renderer import render_camera
from .scene_layout import Scene, build_scene

#: Unix time (microseconds) of the first sample of scene 0; scene i starts 1000 s * i later.
BASE_TIMESTAMP_US = 1_600_000_000_000_000


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate.

    Attributes:
        num_scenes (int): number of scenes. Defaults to 2.
        samples_per_scene (int): keyframes per scene. Defaults to 3.
        seed (int): dataset seed; everything (files, tokens) is a function of the config.
            Defaults to 0.
        image_size (Tuple[int, int]): (width, height) of the camera images. Defaults to
            (1600, 900) like nuScenes.
        version (str): nuScenes version folder name. Defaults to 'v1.0-synthetic'.
        dt (float): seconds between keyframes. Defaults to 0.5 (nuScenes' 2 Hz).
        num_val_scenes (Optional[int]): scenes (the last ones) in the val split; None = 20 %
            rounded, at least 1 when there are 2+ scenes. Defaults to None.
        annotation_range (float): actors farther (xy) from the LiDAR are not annotated; closer
            actors are annotated when at least one LiDAR point or camera pixel sees them.
            Defaults to 80.
        jpeg_quality (int): JPEG quality of the images. Defaults to 92.
    """

    num_scenes: int = 2
    samples_per_scene: int = 3
    seed: int = 0
    image_size: Tuple[int, int] = (1600, 900)
    version: str = 'v1.0-synthetic'
    dt: float = 0.5
    num_val_scenes: Optional[int] = None
    annotation_range: float = 80.0
    jpeg_quality: int = 92

    def __post_init__(self) -> None:
        if self.num_scenes < 1 or self.samples_per_scene < 1:
            raise ValueError(f'need at least 1 scene and 1 sample per scene, got '
                             f'{self.num_scenes} scenes x {self.samples_per_scene} samples')
        if len(self.image_size) != 2 or min(self.image_size) < 8:
            raise ValueError(f'image_size must be (width, height) >= 8, got {self.image_size}')
        if self.num_val_scenes is not None and not 0 <= self.num_val_scenes <= self.num_scenes:
            raise ValueError(f'num_val_scenes must be in [0, {self.num_scenes}], '
                             f'got {self.num_val_scenes}')

    @property
    def val_scene_count(self) -> int:
        if self.num_val_scenes is not None:
            return self.num_val_scenes
        return 0 if self.num_scenes < 2 else max(1, int(round(0.2 * self.num_scenes)))


def scene_rng(seed: int, scene_index: int) -> np.random.Generator:
    """The random state scene ``scene_index`` of a dataset with ``seed`` is built from."""
    return np.random.default_rng([seed, scene_index])


def make_scene(config: SyntheticConfig, scene_index: int) -> Scene:
    """Rebuild scene ``scene_index`` of a dataset exactly as ``generate_dataset`` builds it."""
    return build_scene(scene_rng(config.seed, scene_index), config.samples_per_scene, config.dt)


def generate_scene(config: SyntheticConfig, out_dir: str, scene_index: int,
                   progress: Optional[Callable[[], None]] = None) -> SceneRecord:
    """Simulate one scene, write its sensor files and map, and return its records.

    Args:
        config (SyntheticConfig): the dataset config.
        out_dir (str): dataset root.
        scene_index (int): which scene.
        progress (Optional[Callable[[], None]]): called after every sample.

    Returns:
        SceneRecord: the scene's records (tables and info files are written by the caller).
    """
    root = Path(out_dir)
    seed = config.seed
    width, height = config.image_size
    scene = make_scene(config, scene_index)
    logfile = f'synthetic-seed{seed}-scene{scene_index:04d}'
    map_token = make_token(seed, 'map', scene_index)
    record = SceneRecord(
        token=make_token(seed, 'scene', scene_index), name=f'scene-{scene_index:04d}',
        description=scene.description, log_token=make_token(seed, 'log', scene_index),
        logfile=logfile, location=f'synthetic-street-{scene_index:04d}', map_token=map_token,
        map_filename=f'maps/{map_token}.png',
        calibrated_sensor_tokens={s.channel: make_token(seed, 'calibrated_sensor', scene_index,
                                                        s.channel)
                                  for s in CAMERAS + (LIDAR_TOP,)},
        cam2img={c.channel: camera_intrinsics(c, width, height) for c in CAMERAS})
    write_map_mask(str(root / record.map_filename), scene.layout, scene.world2global)
    layout = scene.layout
    write_lanes(root / 'lanes' / f'{logfile}.json', logfile,
                lane_poses(layout.lanes_per_direction, layout.lane_width, layout.x_range,
                           scene.world2global))
    write_instance_table(root / 'instance' / f'{logfile}.json', scene.actors,
                         [make_token(seed, 'instance', scene_index, a)
                          for a in range(len(scene.actors))])
    world2global = scene.world2global
    theta = float(np.arctan2(world2global[1, 0], world2global[0, 0]))
    spec = LidarSpec()
    dirs_cam = {c: camera_ray_directions(k, width, height) for c, k in record.cam2img.items()}
    instance_last: dict = {}
    for k in range(config.samples_per_scene):
        t = k * config.dt
        timestamp = BASE_TIMESTAMP_US + scene_index * 1_000_000_000 + int(round(t * 1e6))
        parts, object_actor = scene.parts_at(t)
        ego2world = scene.ego2world(t)
        sample = SampleRecord(token=make_token(seed, 'sample', scene_index, k), timestamp=timestamp,
                              ego2global=world2global @ ego2world, data={}, annotations=[])
        num_objects = parts.num_objects
        # LiDAR: returns per object.
        lidar2world = ego2world @ LIDAR_TOP.sensor2ego
        scan = simulate_lidar(parts, scene.layout, lidar2world, spec)
        hit = scan.part >= 0
        lidar_counts = np.bincount(parts.obj[scan.part[hit]], minlength=num_objects)
        stem = f'{logfile}__{LIDAR_TOP.channel}__{timestamp}'
        lidar_file = f'samples/{LIDAR_TOP.channel}/{stem}.pcd.bin'
        scan.points.tofile(root / lidar_file)
        lidar_point_labels(scan.points, scan.part, parts, scene.layout,
                           lidar2world).tofile(lidarseg_path(root, lidar_file))
        sample.data[LIDAR_TOP.channel] = SampleDataRecord(
            token=make_token(seed, 'sample_data', scene_index, k, LIDAR_TOP.channel),
            channel=LIDAR_TOP.channel, filename=lidar_file, width=0, height=0, fileformat='pcd',
            calibrated_sensor_token=record.calibrated_sensor_tokens[LIDAR_TOP.channel])
        # Cameras: visible and unoccluded pixels per object.
        visible = np.zeros(num_objects, dtype=np.int64)
        unoccluded = np.zeros(num_objects, dtype=np.int64)
        for cam in CAMERAS:
            render = render_camera(parts, scene.layout, ego2world @ cam.sensor2ego,
                                   record.cam2img[cam.channel], width, height, scene.sun,
                                   dirs_cam[cam.channel])
            seen = render.part[render.part >= 0]
            visible += np.bincount(parts.obj[seen], minlength=num_objects)
            unoccluded += render.unoccluded
            stem = f'{logfile}__{cam.channel}__{timestamp}'
            Image.fromarray(render.rgb).save(root / 'samples' / cam.channel / f'{stem}.jpg',
                                             quality=config.jpeg_quality)
            np.save(root / 'depth_gt' / cam.channel / f'{stem}.npy', render.depth)
            Image.fromarray(render.semantic).save(root / 'semseg' / cam.channel / f'{stem}.png')
            write_instance_map(root / 'instance' / cam.channel / f'{stem}.png',
                               instance_id_map(render.part, parts.obj, object_actor))
            sample.data[cam.channel] = SampleDataRecord(
                token=make_token(seed, 'sample_data', scene_index, k, cam.channel),
                channel=cam.channel, filename=f'samples/{cam.channel}/{stem}.jpg', width=width,
                height=height, fileformat='jpg',
                calibrated_sensor_token=record.calibrated_sensor_tokens[cam.channel])
        # Annotations: actors within range that some sensor sees.
        lidar_xy = lidar2world[:2, 3]
        for obj in np.flatnonzero(object_actor >= 0):
            a = int(object_actor[obj])
            actor = scene.actors[a]
            center = actor.center(t)
            if np.hypot(*(center[:2] - lidar_xy)) > config.annotation_range:
                continue
            if lidar_counts[obj] == 0 and visible[obj] == 0:
                continue
            fraction = visible[obj] / unoccluded[obj] if unoccluded[obj] > 0 else 0.0
            ann = AnnotationRecord(
                token=make_token(seed, 'sample_annotation', scene_index, k, a),
                instance_token=make_token(seed, 'instance', scene_index, a),
                category=actor.category, attribute=actor.attribute,
                translation=world2global[:3, :3] @ center + world2global[:3, 3],
                size=actor.size_wlh.copy(),
                rotation=yaw_to_quaternion(actor.yaw + theta),
                num_lidar_pts=int(lidar_counts[obj]),
                visibility=visibility_token(min(1.0, fraction)))
            if a in instance_last:  # link the instance's track
                prev = instance_last[a]
                prev.next, ann.prev = ann.token, prev.token
            instance_last[a] = ann
            sample.annotations.append(ann)
        if record.samples:
            record.samples[-1].next, sample.prev = sample.token, record.samples[-1].token
            for channel, sd in sample.data.items():
                prev_sd = record.samples[-1].data[channel]
                prev_sd.next, sd.prev = sd.token, prev_sd.token
        record.samples.append(sample)
        if progress is not None:
            progress()
    return record


def _generate_scene_job(args) -> SceneRecord:
    config, out_dir, scene_index = args
    return generate_scene(config, out_dir, scene_index)


@dataclass
class GenerationSummary:
    """What ``generate_dataset`` wrote."""

    out_dir: Path
    version: str
    num_samples: int
    train_pkl: Path
    val_pkl: Path
    train_scenes: List[str]
    val_scenes: List[str]
    seconds: float


def generate_dataset(out_dir: str, config: SyntheticConfig, workers: int = 1,
                     progress: Optional[Callable[[int], None]] = None) -> GenerationSummary:
    """Generate a whole dataset under ``out_dir`` (see the module docstring for the layout).

    Args:
        out_dir (str): dataset root; created if missing. Existing files are overwritten.
        config (SyntheticConfig): what to generate.
        workers (int): processes generating scenes in parallel (results are identical for any
            value). Defaults to 1.
        progress (Optional[Callable[[int], None]]): called with the number of samples just
            finished (per sample with 1 worker, per scene otherwise).

    Returns:
        GenerationSummary: paths, splits and wall-clock seconds.

    Raises:
        ValueError: if ``workers`` < 1.
    """
    if workers < 1:
        raise ValueError(f'workers must be >= 1, got {workers}')
    start = time.perf_counter()
    root = Path(out_dir)
    (root / 'lidarseg').mkdir(parents=True, exist_ok=True)
    for channel in [c.channel for c in CAMERAS] + [LIDAR_TOP.channel]:
        (root / 'samples' / channel).mkdir(parents=True, exist_ok=True)
    for channel in [c.channel for c in CAMERAS]:
        (root / 'depth_gt' / channel).mkdir(parents=True, exist_ok=True)
        (root / 'semseg' / channel).mkdir(parents=True, exist_ok=True)
        (root / 'instance' / channel).mkdir(parents=True, exist_ok=True)
    (root / 'lanes').mkdir(parents=True, exist_ok=True)
    indices = range(config.num_scenes)
    if workers == 1:
        tick = (lambda: progress(1)) if progress is not None else None
        scenes = [generate_scene(config, str(root), i, tick) for i in indices]
    else:
        scenes = []
        with multiprocessing.get_context('spawn').Pool(workers) as pool:
            for record in pool.imap(_generate_scene_job, [(config, str(root), i) for i in indices]):
                scenes.append(record)
                if progress is not None:
                    progress(len(record.samples))
    write_nuscenes_tables(str(root), config.version, scenes, config.seed)
    num_val = config.val_scene_count
    train, val = scenes[:len(scenes) - num_val], scenes[len(scenes) - num_val:]
    train_pkl, val_pkl = root / 'nuscenes_infos_train.pkl', root / 'nuscenes_infos_val.pkl'
    write_info_pkl(str(train_pkl), train, config.version)
    write_info_pkl(str(val_pkl), val, config.version)
    return GenerationSummary(out_dir=root, version=config.version,
                             num_samples=sum(len(s.samples) for s in scenes),
                             train_pkl=train_pkl, val_pkl=val_pkl,
                             train_scenes=[s.name for s in train], val_scenes=[s.name for s in val],
                             seconds=time.perf_counter() - start)
