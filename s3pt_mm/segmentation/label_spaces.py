"""Segmentation label spaces: nuImages classes, Cityscapes, and the shared space for DG.

Pure Python/numpy (no OpenMMLab import), so converters and tests use it directly.

**nuImages** (docs/segmentation.md, "Class mapping"): the 10 object classes the paper evaluates
(Tab. 5 of the supplementary, nuScenes detection names), ``driveable_surface`` (nuImages' one
surface class) and ``background`` (every pixel no annotation covers). nuImages categories outside
these (emergency vehicles, animals, debris, strollers, ..., and the ego vehicle's own hood) are
ignored (255): they are neither background nor one of the classes, so training and evaluation
skip them.

**Domain generalisation** (nuImages <-> Cityscapes): a model trained on one label space is
scored on the other through :data:`SHARED_CLASSES`, the classes both datasets annotate; each
dataset class maps to one shared class by name (:data:`TO_SHARED`) or is ignored.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

#: Value of "no label" in label PNGs (mmseg's ``ignore_index``).
IGNORE_INDEX = 255

#: nuImages segmentation classes, label-PNG value = position.
NUIMAGES_SEG_CLASSES: Tuple[str, ...] = (
    'background', 'car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
    'motorcycle', 'pedestrian', 'traffic_cone', 'barrier', 'driveable_surface')

#: Display colours (RGB) of :data:`NUIMAGES_SEG_CLASSES` (nuScenes colour map).
NUIMAGES_SEG_PALETTE: Tuple[Tuple[int, int, int], ...] = (
    (0, 0, 0), (255, 158, 0), (255, 99, 71), (255, 140, 0), (255, 69, 0), (233, 150, 70),
    (220, 20, 60), (255, 61, 99), (0, 0, 230), (47, 79, 79), (112, 128, 144), (0, 207, 191))

#: Every nuImages v1.0 category -> segmentation class name, or None (ignored, 255).
NUIMAGES_CATEGORY_TO_CLASS: Dict[str, Optional[str]] = {
    'vehicle.car': 'car',
    'vehicle.truck': 'truck',
    'vehicle.trailer': 'trailer',
    'vehicle.bus.bendy': 'bus',
    'vehicle.bus.rigid': 'bus',
    'vehicle.construction': 'construction_vehicle',
    'vehicle.bicycle': 'bicycle',
    'vehicle.motorcycle': 'motorcycle',
    'human.pedestrian.adult': 'pedestrian',
    'human.pedestrian.child': 'pedestrian',
    'human.pedestrian.construction_worker': 'pedestrian',
    'human.pedestrian.police_officer': 'pedestrian',
    'movable_object.trafficcone': 'traffic_cone',
    'movable_object.barrier': 'barrier',
    'flat.driveable_surface': 'driveable_surface',
    # Not evaluated by nuScenes detection (mmdet3d's NameMapping drops them too): ignored.
    'vehicle.emergency.ambulance': None,
    'vehicle.emergency.police': None,
    'human.pedestrian.personal_mobility': None,
    'human.pedestrian.stroller': None,
    'human.pedestrian.wheelchair': None,
    'animal': None,
    'movable_object.debris': None,
    'movable_object.pushable_pullable': None,
    'static_object.bicycle_rack': None,
    # The ego vehicle's own body seen by the camera: not scene content.
    'vehicle.ego': None,
}

#: mmseg ``CityscapesDataset`` classes (train ids 0..18).
CITYSCAPES_CLASSES: Tuple[str, ...] = (
    'road', 'sidewalk', 'building', 'wall', 'fence', 'pole', 'traffic light', 'traffic sign',
    'vegetation', 'terrain', 'sky', 'person', 'rider', 'car', 'truck', 'bus', 'train',
    'motorcycle', 'bicycle')

#: Classes that nuImages and Cityscapes both annotate (the DG evaluation label space).
SHARED_CLASSES: Tuple[str, ...] = (
    'background', 'road', 'car', 'truck', 'bus', 'motorcycle', 'bicycle', 'pedestrian')

#: Class name (of any label space here) -> shared class. Names not listed are ignored: nuImages
#: trailer / construction_vehicle / traffic_cone / barrier and Cityscapes train have no
#: counterpart in the other dataset.
TO_SHARED: Dict[str, str] = {
    # nuImages (and the synthetic scenes, which use the same object names)
    'background': 'background',
    'driveable_surface': 'road',
    'car': 'car',
    'truck': 'truck',
    'bus': 'bus',
    'motorcycle': 'motorcycle',
    'bicycle': 'bicycle',
    'pedestrian': 'pedestrian',
    # Cityscapes: the drivable road, people (riders are masked as people in nuImages), and
    # everything nuImages leaves unannotated -> background.
    'road': 'road',
    'person': 'pedestrian',
    'rider': 'pedestrian',
    'sidewalk': 'background',
    'building': 'background',
    'wall': 'background',
    'fence': 'background',
    'pole': 'background',
    'traffic light': 'background',
    'traffic sign': 'background',
    'vegetation': 'background',
    'terrain': 'background',
    'sky': 'background',
    # synthetic scenes' remaining surfaces (s3pt_mm.synthetic.classes)
    'other_flat': 'background',
    'manmade': 'background',
}


def _synthetic_classes() -> Tuple[str, ...]:
    from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES
    return tuple(c.name for c in SEMANTIC_CLASSES)


def label_space(name_or_classes: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    """Resolve a label-space name (``'nuimages'``, ``'cityscapes'``, ``'synthetic'``) or pass
    a class list through.

    Raises:
        ValueError: for an unknown name.
    """
    if not isinstance(name_or_classes, str):
        return tuple(name_or_classes)
    spaces = dict(nuimages=NUIMAGES_SEG_CLASSES, cityscapes=CITYSCAPES_CLASSES)
    if name_or_classes == 'synthetic':
        return _synthetic_classes()
    if name_or_classes not in spaces:
        raise ValueError(f'unknown label space {name_or_classes!r}; known: '
                         f'{sorted(spaces) + ["synthetic"]} (or pass the class names)')
    return spaces[name_or_classes]


def label_lut(src_classes: Sequence[str], dst_classes: Sequence[str],
              mapping: Mapping[str, Optional[str]]) -> np.ndarray:
    """A 256-entry look-up table from source label ids to destination label ids.

    ``lut[i] = dst_classes.index(mapping[src_classes[i]])``; classes the mapping leaves out (or
    maps to None), ids beyond the source classes and 255 map to :data:`IGNORE_INDEX`.

    Args:
        src_classes (Sequence[str]): source class names, id = position.
        dst_classes (Sequence[str]): destination class names.
        mapping (Mapping[str, Optional[str]]): source name -> destination name.

    Returns:
        np.ndarray: (256,) uint8 table; apply as ``lut[labels]``.

    Raises:
        ValueError: if the mapping names a destination class that does not exist, or there are
            more than 255 source classes.
    """
    if len(src_classes) > IGNORE_INDEX:
        raise ValueError(f'at most {IGNORE_INDEX} classes fit in uint8 labels, got '
                         f'{len(src_classes)}')
    lut = np.full(256, IGNORE_INDEX, dtype=np.uint8)
    for i, name in enumerate(src_classes):
        target = mapping.get(name)
        if target is None:
            continue
        if target not in dst_classes:
            raise ValueError(f'class {name!r} maps to {target!r}, which is not one of '
                             f'{list(dst_classes)}')
        lut[i] = list(dst_classes).index(target)
    return lut


def shared_lut(classes: Union[str, Sequence[str]]) -> np.ndarray:
    """Look-up table from a label space's ids to :data:`SHARED_CLASSES` ids (255 = ignore)."""
    return label_lut(label_space(classes), SHARED_CLASSES, TO_SHARED)


def nuimages_category_lut(category_names: Sequence[str]) -> np.ndarray:
    """Map nuImages category-table indices to :data:`NUIMAGES_SEG_CLASSES` ids.

    Args:
        category_names (Sequence[str]): the ``category`` table's names, in table order.

    Returns:
        np.ndarray: (len(category_names),) uint8; 255 for ignored categories.

    Raises:
        ValueError: for a category this mapping does not know (a new nuImages release?).
    """
    unknown = [n for n in category_names if n not in NUIMAGES_CATEGORY_TO_CLASS]
    if unknown:
        raise ValueError(f'nuImages categories without a segmentation class: {unknown}; add '
                         'them to NUIMAGES_CATEGORY_TO_CLASS (None = ignore)')
    return label_lut(category_names, NUIMAGES_SEG_CLASSES, NUIMAGES_CATEGORY_TO_CLASS)[
        :len(category_names)]
