"""Class lists of the synthetic nuScenes generator.

Three vocabularies meet here:

* ``SEMANTIC_CLASSES``: the per-pixel label set of ``DIR/semseg/<CHANNEL>/<stem>.png``. It is the
  16-class nuScenes-lidarseg / nuImages-style set (10 object classes + 6 surface classes, in the
  lidarseg challenge order) plus ``sky``, with the nuScenes colour map. Ids are the PNG values;
  ``IGNORE_INDEX`` (255) is reserved for "no label" and never written by the generator.
  ``construction_vehicle``, ``motorcycle``, ``trailer`` and ``other_flat`` are part of the list so
  that models trained on synthetic data share the real label space, but the generator never draws
  them.
* ``NUSCENES_CATEGORIES``: the nuScenes ``category`` table entries the generator annotates.
* ``DETECTION_CLASSES``: mmdet3d's 10 nuScenes detection classes (``bbox_label_3d`` indices) and the
  category -> detection-class / attribute index maps mmdet3d's converter applies.
"""
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class SemanticClass:
    """One semantic-segmentation class: PNG value, short name, RGB display colour."""

    id: int
    name: str
    color: Tuple[int, int, int]


#: Per-pixel classes (value in the semseg PNG). Order = nuScenes-lidarseg 16-class challenge + sky.
SEMANTIC_CLASSES: Tuple[SemanticClass, ...] = (
    SemanticClass(0, 'barrier', (112, 128, 144)),
    SemanticClass(1, 'bicycle', (220, 20, 60)),
    SemanticClass(2, 'bus', (255, 69, 0)),
    SemanticClass(3, 'car', (255, 158, 0)),
    SemanticClass(4, 'construction_vehicle', (233, 150, 70)),
    SemanticClass(5, 'motorcycle', (255, 61, 99)),
    SemanticClass(6, 'pedestrian', (0, 0, 230)),
    SemanticClass(7, 'traffic_cone', (47, 79, 79)),
    SemanticClass(8, 'trailer', (255, 140, 0)),
    SemanticClass(9, 'truck', (255, 99, 71)),
    SemanticClass(10, 'driveable_surface', (0, 207, 191)),
    SemanticClass(11, 'other_flat', (175, 0, 75)),
    SemanticClass(12, 'sidewalk', (75, 0, 75)),
    SemanticClass(13, 'terrain', (112, 180, 60)),
    SemanticClass(14, 'manmade', (222, 184, 135)),
    SemanticClass(15, 'vegetation', (0, 175, 0)),
    SemanticClass(16, 'sky', (135, 206, 235)),
)

#: Value reserved for "no label" in the semseg PNGs (mmseg's ``ignore_index``); never written.
IGNORE_INDEX = 255

#: Semantic class id by name, e.g. ``SEMANTIC_ID['car'] == 3``.
SEMANTIC_ID: Dict[str, int] = {c.name: c.id for c in SEMANTIC_CLASSES}

#: mmdet3d's nuScenes detection classes, in ``metainfo['categories']`` order.
DETECTION_CLASSES: Tuple[str, ...] = (
    'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'barrier')

#: nuScenes category name -> description, for the categories the generator annotates.
#: A cyclist is annotated the nuScenes way: ONE ``vehicle.bicycle`` box around bicycle and rider
#: with attribute ``cycle.with_rider`` (the rider gets no box of its own). Its pixels are split:
#: frame -> ``bicycle``, rider -> ``pedestrian`` (as nuImages masks a rider as a person).
NUSCENES_CATEGORIES: Dict[str, str] = {
    'vehicle.car': 'Vehicle designed primarily for personal use (synthetic: two boxes).',
    'vehicle.truck': 'Vehicle primarily designed to haul cargo (synthetic: cab + cargo box).',
    'vehicle.bus.rigid': 'Rigid bus (synthetic: one box with a window band).',
    'human.pedestrian.adult': 'An adult pedestrian (synthetic: legs, torso, head boxes).',
    'vehicle.bicycle': 'Human or electric powered 2-wheeled vehicle; cyclists are annotated as '
                       'a bicycle with attribute cycle.with_rider.',
    'movable_object.trafficcone': 'Traffic cone (synthetic: stacked tapering boxes).',
    'movable_object.barrier': 'Temporary road barrier (synthetic: striped box).',
}

#: nuScenes category -> mmdet3d detection class (mmdet3d's ``NuScenesDataset.NameMapping``).
CATEGORY_TO_DETECTION: Dict[str, str] = {
    'vehicle.car': 'car',
    'vehicle.truck': 'truck',
    'vehicle.bus.rigid': 'bus',
    'human.pedestrian.adult': 'pedestrian',
    'vehicle.bicycle': 'bicycle',
    'movable_object.trafficcone': 'traffic_cone',
    'movable_object.barrier': 'barrier',
}

#: The nuScenes attribute table (name -> description).
NUSCENES_ATTRIBUTES: Dict[str, str] = {
    'vehicle.moving': 'Vehicle is moving.',
    'vehicle.stopped': 'Vehicle, with a driver/rider in/on it, is currently stationary.',
    'vehicle.parked': 'Vehicle is stationary (usually for longer duration) with no immediate '
                      'intent to move.',
    'cycle.with_rider': 'There is a rider on the bicycle or motorcycle.',
    'cycle.without_rider': 'There is NO rider on the bicycle or motorcycle.',
    'pedestrian.sitting_lying_down': 'The human is sitting or lying down.',
    'pedestrian.standing': 'The human is standing.',
    'pedestrian.moving': 'The human is moving.',
}

#: mmdet3d's attribute order for ``cam_instances[*]['attr_label']`` ('None' = no attribute).
MMDET3D_ATTRIBUTES: Tuple[str, ...] = (
    'cycle.with_rider', 'cycle.without_rider', 'pedestrian.moving', 'pedestrian.standing',
    'pedestrian.sitting_lying_down', 'vehicle.moving', 'vehicle.parked', 'vehicle.stopped',
    'None')

#: nuScenes visibility table: token -> (level, description). Visibility is the fraction of the
#: object's projected pixels (over all six cameras) that is not occluded.
NUSCENES_VISIBILITY: Dict[str, Tuple[str, str]] = {
    '1': ('v0-40', 'visibility of whole object is between 0 and 40%'),
    '2': ('v40-60', 'visibility of whole object is between 40 and 60%'),
    '3': ('v60-80', 'visibility of whole object is between 60 and 80%'),
    '4': ('v80-100', 'visibility of whole object is between 80 and 100%'),
}


def detection_label(category: str) -> int:
    """Return the ``bbox_label_3d`` of a nuScenes category (-1 if not a detection class).

    Args:
        category (str): nuScenes category name, e.g. ``'vehicle.car'``.

    Returns:
        int: index into ``DETECTION_CLASSES`` or -1.
    """
    name = CATEGORY_TO_DETECTION.get(category)
    return DETECTION_CLASSES.index(name) if name is not None else -1


def attribute_label(attribute: Optional[str]) -> int:
    """Return mmdet3d's ``attr_label`` for a nuScenes attribute name (``None`` -> 'None' = 8)."""
    return MMDET3D_ATTRIBUTES.index(attribute if attribute is not None else 'None')


def visibility_token(fraction: float) -> str:
    """Map a visible fraction in [0, 1] to the nuScenes visibility token '1'..'4'.

    Bins: [0, 0.4) -> '1', [0.4, 0.6) -> '2', [0.6, 0.8) -> '3', [0.8, 1] -> '4'.
    """
    if not 0.0 <= fraction <= 1.0 + 1e-9:
        raise ValueError(f'visible fraction must be in [0, 1], got {fraction}')
    return str(1 + int(np.searchsorted([0.4, 0.6, 0.8], fraction, side='right')))


def semantic_palette() -> np.ndarray:
    """Return the (256, 3) uint8 colour table for semantic ids (unused ids and 255 are black)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for cls in SEMANTIC_CLASSES:
        palette[cls.id] = cls.color
    return palette


def colorize_semantic(labels: np.ndarray) -> np.ndarray:
    """Colour a semantic label map for display.

    Args:
        labels (np.ndarray): (H, W) integer class ids.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB image using the ``SEMANTIC_CLASSES`` colours.
    """
    return semantic_palette()[np.asarray(labels, dtype=np.uint8)]
