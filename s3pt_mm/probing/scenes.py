"""The synthetic scenes of the pre-training probe protocol, with per-object annotations.

``prepare_scenes`` writes a nuScenes-format dataset with :func:`s3pt_mm.synthetic.generate_dataset`
and the completed LiDAR depth of every image (``tools/precompute_depth.py``'s pipeline:
z-buffer projection + IP-Basic ``fill_in_fast``), so pre-training reads exactly what the S3PT
configs read. ``load_probe_images`` returns, for the images of one split, what the probes and
the pictures need: the camera image as written (JPEG), the ground-truth label map, an
*instance map* (which annotated road user each pixel shows; the generator does not write one,
so the scene is rebuilt from its seed and the camera re-rendered, which reproduces the image
exactly) and the completed LiDAR depth.

Object classes of the object-level probe (``OBJECT_CLASSES``) are the nuScenes categories the
generator annotates; their frequencies are long-tailed by construction (lane traffic is 82 %
cars, 10 % trucks, 8 % buses; a road-works zone holds the cones and barriers).
"""
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..synthetic import SyntheticConfig, generate_dataset, make_scene
from ..synthetic.camera_rig import CAMERAS, camera_intrinsics, camera_ray_directions
from ..synthetic.generator import BASE_TIMESTAMP_US
from ..synthetic.renderer import render_camera

#: Object-level probe classes: nuScenes category -> class index.
OBJECT_CLASSES: Tuple[str, ...] = ('car', 'truck', 'bus', 'pedestrian', 'bicycle',
                                   'traffic_cone', 'barrier')
CATEGORY_TO_OBJECT_CLASS: Dict[str, int] = {
    'vehicle.car': 0, 'vehicle.truck': 1, 'vehicle.bus.rigid': 2,
    'human.pedestrian.adult': 3, 'vehicle.bicycle': 4, 'movable_object.trafficcone': 5,
    'movable_object.barrier': 6}
DEPTH_PREFIX = 'depth_completed'
_STEM = re.compile(r'^synthetic-seed(\d+)-scene(\d+)__(CAM_[A-Z_]+)__(\d+)$')


@dataclass
class ProbeImage:
    """One camera image of the probe set.

    Attributes:
        name (str): file stem ``<logfile>__<CHANNEL>__<timestamp>``.
        rgb (np.ndarray): (H, W, 3) uint8 RGB, the JPEG pre-training reads.
        semantic (np.ndarray): (H, W) uint8 ``SEMANTIC_CLASSES`` ids.
        instance (np.ndarray): (H, W) int32 index into ``objects`` of the road user each pixel
            shows, -1 elsewhere.
        depth (np.ndarray): (H, W) float32 completed LiDAR depth in metres (0 = none).
        depth_gt (np.ndarray): (H, W) float32 rendered camera z in metres (0 = sky).
        objects (List[dict]): per visible annotated road user: ``label`` (index into
            ``OBJECT_CLASSES``), ``pixels`` (visible pixel count), ``distance`` (median
            ground-truth depth of its pixels, metres).
    """

    name: str
    rgb: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    depth: np.ndarray
    depth_gt: np.ndarray
    objects: List[dict] = field(default_factory=list)


def scene_config(num_scenes: int, samples_per_scene: int, image_size: Tuple[int, int],
                 num_val_scenes: int, seed: int = 0) -> SyntheticConfig:
    """The generator config of the protocol (see ``benchmarks/pretrain_probe.py``)."""
    return SyntheticConfig(num_scenes=num_scenes, samples_per_scene=samples_per_scene,
                           image_size=tuple(image_size), seed=seed,
                           num_val_scenes=num_val_scenes)


def prepare_scenes(root: Path, config: SyntheticConfig) -> None:
    """Generate the dataset and its completed LiDAR depth under ``root`` unless present.

    Args:
        root (Path): dataset root.
        config (SyntheticConfig): what to generate (``scene_config``).
    """
    root = Path(root)
    marker = root / '.probe_scenes_ready'
    if marker.is_file() and marker.read_text() == repr(config):
        return
    generate_dataset(str(root), config)
    from ..datasets.transforms import complete_depth  # noqa: F401 (registers transforms)
    _precompute_depth(root)
    marker.write_text(repr(config))


def _precompute_depth(root: Path) -> None:
    import importlib.util
    tool = Path(__file__).resolve().parents[2] / 'tools' / 'precompute_depth.py'
    if not tool.is_file():
        raise FileNotFoundError(f'{tool}: needed to complete the LiDAR depth of {root}')
    spec = importlib.util.spec_from_file_location('_precompute_depth_tool', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for split in ('train', 'val'):
        module.main(['--data-root', str(root), '--ann-file', f'nuscenes_infos_{split}.pkl',
                     '--depth-prefix', DEPTH_PREFIX])


def split_scene_indices(config: SyntheticConfig, split: str) -> List[int]:
    """Scene indices of ``split`` ('train' = the first scenes, 'val' = the last)."""
    num_val = config.val_scene_count
    first_val = config.num_scenes - num_val
    if split == 'train':
        return list(range(first_val))
    if split == 'val':
        return list(range(first_val, config.num_scenes))
    raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def load_probe_images(root: Path, config: SyntheticConfig, split: str,
                      cameras: Optional[Sequence[str]] = None,
                      max_images: Optional[int] = None) -> List[ProbeImage]:
    """Images of ``split`` with labels, instances and depth (see the module docstring).

    Args:
        root (Path): dataset root written by :func:`prepare_scenes` with ``config``.
        config (SyntheticConfig): the generator config.
        split (str): 'train' or 'val'.
        cameras (Sequence[str], optional): channels to use; all six by default.
        max_images (int, optional): stop after this many images.

    Returns:
        List[ProbeImage]: in scene, sample, camera order.

    Raises:
        FileNotFoundError: if an image or depth file of the split is missing.
        ValueError: if a re-rendered label map differs from the written one (the scene could
            not be rebuilt exactly).
    """
    from ..datasets.depth_io import load_depth_png

    root = Path(root)
    width, height = config.image_size
    channels = set(cameras) if cameras is not None else None
    images: List[ProbeImage] = []
    for scene_index in split_scene_indices(config, split):
        scene = make_scene(config, scene_index)
        logfile = f'synthetic-seed{config.seed}-scene{scene_index:04d}'
        for k in range(config.samples_per_scene):
            t = k * config.dt
            timestamp = BASE_TIMESTAMP_US + scene_index * 1_000_000_000 + int(round(t * 1e6))
            parts, object_actor = scene.parts_at(t)
            ego2world = scene.ego2world(t)
            for cam in CAMERAS:
                if channels is not None and cam.channel not in channels:
                    continue
                stem = f'{logfile}__{cam.channel}__{timestamp}'
                img_file = root / 'samples' / cam.channel / f'{stem}.jpg'
                depth_file = root / DEPTH_PREFIX / cam.channel / f'{stem}.png'
                sem_file = root / 'semseg' / cam.channel / f'{stem}.png'
                for f in (img_file, depth_file, sem_file):
                    if not f.is_file():
                        raise FileNotFoundError(f'{f}: missing from the probe scenes in {root} '
                                                '(run prepare_scenes with the same config)')
                cam2img = camera_intrinsics(cam, width, height)
                render = render_camera(parts, scene.layout, ego2world @ cam.sensor2ego, cam2img,
                                       width, height, scene.sun,
                                       camera_ray_directions(cam2img, width, height))
                semantic = np.asarray(Image.open(sem_file))
                if not np.array_equal(semantic, render.semantic):
                    raise ValueError(f'{sem_file}: the re-rendered label map differs from the '
                                     'written one; the scene was not rebuilt exactly')
                images.append(_probe_image(stem, img_file, depth_file, render, parts,
                                           object_actor, scene, load_depth_png))
                if max_images is not None and len(images) >= max_images:
                    return images
    return images


def _probe_image(stem, img_file, depth_file, render, parts, object_actor, scene,
                 load_depth_png) -> ProbeImage:
    """Instance map and object list of one rendered camera."""
    part = render.part
    actor = np.full(part.shape, -1, dtype=np.int64)
    on_part = part >= 0  # MISS (-1) = sky, GROUND (-2) = the street surface
    actor[on_part] = object_actor[parts.obj[part[on_part]]]
    instance = np.full(part.shape, -1, dtype=np.int32)
    objects = []
    for a in np.unique(actor[actor >= 0]):
        mask = actor == a
        label = CATEGORY_TO_OBJECT_CLASS.get(scene.actors[int(a)].category)
        if label is None:
            continue
        instance[mask] = len(objects)
        objects.append(dict(label=label, pixels=int(mask.sum()),
                            distance=float(np.median(render.depth[mask]))))
    rgb = np.asarray(Image.open(img_file).convert('RGB'))
    return ProbeImage(name=stem, rgb=rgb, semantic=render.semantic.copy(), instance=instance,
                      depth=load_depth_png(str(depth_file)), depth_gt=render.depth.copy(),
                      objects=objects)


def parse_stem(stem: str) -> Tuple[int, int, str, int]:
    """``(seed, scene index, channel, timestamp)`` of a generator file stem.

    Raises:
        ValueError: if ``stem`` is not a generator file stem.
    """
    match = _STEM.match(stem)
    if match is None:
        raise ValueError(f'{stem!r} is not a synthetic generator file stem')
    return int(match[1]), int(match[2]), match[3], int(match[4])


def object_statistics(images: Sequence[ProbeImage], patch_size: int) -> dict:
    """Counts that show the scenes test the paper's claims (per class, small, distant)."""
    labels = np.array([o['label'] for im in images for o in im.objects], dtype=np.int64)
    pixels = np.array([o['pixels'] for im in images for o in im.objects])
    distance = np.array([o['distance'] for im in images for o in im.objects])
    return dict(num_images=len(images), num_objects=int(len(labels)),
                per_class={c: int((labels == i).sum()) for i, c in enumerate(OBJECT_CLASSES)},
                smaller_than_a_patch=int((pixels < patch_size ** 2).sum()),
                farther_than_30m=int((distance > 30).sum()))
