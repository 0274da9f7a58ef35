"""Write a tiny dataset in nuImages devkit format, with the label maps it should convert to.

For tests and demos of ``tools/dataset_converters/nuimages_to_semseg.py`` without the real data.
Every table of nuImages v1.0 is written (``attribute, calibrated_sensor, category, ego_pose, log,
object_ann, sample, sample_data, sensor, surface_ann``) with the devkit's field names; masks are
COCO RLE (pycocotools) with base64 ``counts``, as nuImages stores them. Each sample has a key
camera frame under ``samples/`` and one earlier sweep under ``sweeps/`` (no annotations), linked
by ``prev``/``next``. Objects cycle through all 23 object categories, so every category table
entry is used (the devkit's foreign-key test demands it for non-mini versions), and overlap so
that the drawing order (surfaces, then objects by token) matters.
"""
import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

from s3pt_mm.segmentation.label_spaces import (IGNORE_INDEX, NUIMAGES_CATEGORY_TO_CLASS,
                                               NUIMAGES_SEG_CLASSES)

SURFACE_CATEGORIES = ('flat.driveable_surface', 'vehicle.ego')
OBJECT_CATEGORIES = tuple(sorted(c for c in NUIMAGES_CATEGORY_TO_CLASS
                                 if c not in SURFACE_CATEGORIES))
CHANNELS = ('CAM_FRONT', 'CAM_FRONT_LEFT', 'CAM_BACK')


@dataclass
class TinyNuImages:
    """What :func:`write_tiny_nuimages` wrote.

    Attributes:
        dataroot (Path): the nuImages root (``samples/``, ``sweeps/``, ``<version>/``).
        labels (Dict[str, Dict[str, np.ndarray]]): per version, key-frame file stem ->
            (H, W) uint8 label map in ``NUIMAGES_SEG_CLASSES`` ids (255 = ignored), painted
            from the raw masks (not from the RLE) for the converter to be compared with.
    """

    dataroot: Path
    labels: Dict[str, Dict[str, np.ndarray]]


def _token(*parts) -> str:
    return hashlib.md5('/'.join(map(str, parts)).encode()).hexdigest()


def encode_mask(mask: np.ndarray) -> dict:
    """Binary (H, W) mask -> nuImages mask record ``{'size': [H, W], 'counts': base64 RLE}``."""
    from pycocotools import mask as cocomask
    rle = cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(size=[int(s) for s in rle['size']],
                counts=base64.b64encode(rle['counts']).decode('ascii'))


def _attribute_tokens(category: str, attributes: List[dict], vehicle_index: int) -> List[str]:
    if not category.startswith('vehicle.'):
        return []
    return [attributes[vehicle_index % len(attributes)]['token']]


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) / ry)**2 + ((xx - cx) / rx)**2 <= 1.0


def write_tiny_nuimages(dataroot: str, versions: Sequence[str] = ('v1.0-train', 'v1.0-val'),
                        samples_per_version: int = 3, objects_per_sample: int = 8,
                        image_size: Tuple[int, int] = (160, 96), seed: int = 0) -> TinyNuImages:
    """Write a tiny nuImages-format dataset.

    Args:
        dataroot (str): output root; created if missing.
        versions (Sequence[str]): table folders to write, one split each. Defaults to
            ``('v1.0-train', 'v1.0-val')``.
        samples_per_version (int): key frames per version. Defaults to 3.
        objects_per_sample (int): object annotations per key frame. Defaults to 8 (with 3
            samples every object category occurs in every version).
        image_size (Tuple[int, int]): (W, H). Defaults to (160, 96).
        seed (int): random seed. Defaults to 0.

    Returns:
        TinyNuImages: the root and the expected label maps.
    """
    root = Path(dataroot)
    rng = np.random.default_rng(seed)
    w, h = image_size
    class_id = {c: (NUIMAGES_SEG_CLASSES.index(n) if n is not None else IGNORE_INDEX)
                for c, n in NUIMAGES_CATEGORY_TO_CLASS.items()}
    categories = [dict(token=_token('category', n), name=n, description=f'synthetic {n}')
                  for n in sorted(NUIMAGES_CATEGORY_TO_CLASS)]
    cat_token = {c['name']: c['token'] for c in categories}
    attributes = [dict(token=_token('attribute', n), name=n, description=n)
                  for n in ('vehicle.moving', 'vehicle.parked')]
    sensors = [dict(token=_token('sensor', ch), channel=ch, modality='camera') for ch in CHANNELS]
    for ch in CHANNELS:
        (root / 'samples' / ch).mkdir(parents=True, exist_ok=True)
        (root / 'sweeps' / ch).mkdir(parents=True, exist_ok=True)
    labels: Dict[str, Dict[str, np.ndarray]] = {}
    object_counter = 0
    for v_idx, version in enumerate(versions):
        tables: Dict[str, List[dict]] = {k: [] for k in (
            'calibrated_sensor', 'ego_pose', 'log', 'object_ann', 'sample', 'sample_data',
            'surface_ann')}
        tables['category'], tables['attribute'], tables['sensor'] = categories, attributes, sensors
        labels[version] = {}
        vehicle_counter = 0  # alternates the two vehicle attributes so both are used
        log_token = _token(version, 'log')
        tables['log'].append(dict(token=log_token, logfile=f'n000-2018-01-0{v_idx + 1}-tiny',
                                  vehicle='n000', date_captured='2018-01-01',
                                  location='singapore-onenorth'))
        calib = {}
        for ch, sensor in zip(CHANNELS, sensors):
            calib[ch] = _token(version, 'calibrated_sensor', ch)
            tables['calibrated_sensor'].append(dict(
                token=calib[ch], sensor_token=sensor['token'], translation=[1.0, 0.0, 1.5],
                rotation=[0.5, -0.5, 0.5, -0.5],
                camera_intrinsic=[[w / 2.0, 0.0, w / 2.0], [0.0, w / 2.0, h / 2.0],
                                  [0.0, 0.0, 1.0]],
                camera_distortion=[0.0, 0.0, 0.0, 0.0, 0.0]))
        for s_idx in range(samples_per_version):
            ch = CHANNELS[s_idx % len(CHANNELS)]
            key_time = 1_514_764_800_000_000 + (v_idx * 100 + s_idx) * 10_000_000
            sample_token = _token(version, 'sample', s_idx)
            sd_tokens = [_token(version, 'sd', s_idx, k) for k in ('sweep', 'key')]
            for k, (sd_token, is_key) in enumerate(zip(sd_tokens, (False, True))):
                stamp = key_time - (1 - k) * 500_000
                folder = 'samples' if is_key else 'sweeps'
                stem = f'{tables["log"][0]["logfile"]}__{ch}__{stamp}'
                filename = f'{folder}/{ch}/{stem}.jpg'
                pixels = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / filename, quality=90)
                ego_token = _token(version, 'ego_pose', s_idx, k)
                tables['ego_pose'].append(dict(
                    token=ego_token, translation=[float(s_idx), 0.0, 0.0],
                    rotation=[1.0, 0.0, 0.0, 0.0], timestamp=stamp,
                    rotation_rate=[0.0, 0.0, 0.0], acceleration=[0.0, 0.0, 0.0], speed=0.0))
                tables['sample_data'].append(dict(
                    token=sd_token, sample_token=sample_token, ego_pose_token=ego_token,
                    calibrated_sensor_token=calib[ch], filename=filename, fileformat='jpg',
                    width=w, height=h, timestamp=stamp, is_key_frame=is_key,
                    prev=sd_tokens[k - 1] if k > 0 else '',
                    next=sd_tokens[k + 1] if k + 1 < len(sd_tokens) else ''))
            tables['sample'].append(dict(token=sample_token, timestamp=key_time,
                                         log_token=log_token, key_camera_token=sd_tokens[1]))
            key_sd, key_stem = sd_tokens[1], Path(tables['sample_data'][-1]['filename']).stem
            label = np.zeros((h, w), dtype=np.uint8)  # background
            # Surfaces first (as the devkit draws them): the road, and the ego hood on CAM_BACK.
            road = np.zeros((h, w), dtype=bool)
            road[int(h * rng.uniform(0.45, 0.6)):] = True
            surfaces = [('flat.driveable_surface', road)]
            if ch == 'CAM_BACK':
                hood = np.zeros((h, w), dtype=bool)
                hood[int(h * 0.85):] = True
                surfaces.append(('vehicle.ego', hood))
            for a_idx, (name, mask) in enumerate(surfaces):
                tables['surface_ann'].append(dict(
                    token=_token(version, 'surface_ann', s_idx, a_idx), sample_data_token=key_sd,
                    category_token=cat_token[name], mask=encode_mask(mask)))
                label[mask] = class_id[name]
            # Objects, drawn in token order over the surfaces and over each other.
            objects = []
            for o_idx in range(objects_per_sample):
                name = OBJECT_CATEGORIES[object_counter % len(OBJECT_CATEGORIES)]
                object_counter += 1
                cy, cx = rng.uniform(0.25, 0.85) * h, rng.uniform(0.1, 0.9) * w
                mask = _ellipse(h, w, cy, cx, rng.uniform(0.08, 0.25) * h,
                                rng.uniform(0.05, 0.2) * w)
                ys, xs = np.nonzero(mask)
                token = _token(version, 'object_ann', s_idx, o_idx)
                objects.append((token, name, mask))
                vehicle_counter += name.startswith('vehicle.')
                tables['object_ann'].append(dict(
                    token=token, sample_data_token=key_sd, category_token=cat_token[name],
                    attribute_tokens=_attribute_tokens(name, attributes, vehicle_counter),
                    bbox=[int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())],
                    mask=encode_mask(mask)))
            for _, name, mask in sorted(objects, key=lambda o: o[0]):
                label[mask] = class_id[name]
            labels[version][key_stem] = label
        (root / version).mkdir(parents=True, exist_ok=True)
        for name, rows in tables.items():
            with open(root / version / f'{name}.json', 'w') as f:
                json.dump(rows, f)
    return TinyNuImages(dataroot=root, labels=labels)
