"""Label spaces of the CSC experiments on synthetic scenes (docs/csc.md §6).

The 2D semantic superpixels must come from a label space *other* than the downstream LiDAR
classes, as in the paper (ADE20K-150 maps from DINOv2 vs nuScenes-lidarseg-16). On the
synthetic scenes the 2D "foundation model" is replaced by the rendered ground truth mapped
into ``SYNTHETIC_2D_CLASSES``, a coarser ADE20K-like vocabulary with its own ids; the
downstream task keeps the 16 nuScenes-lidarseg classes of ``s3pt_mm.synthetic.classes``.
"""
from typing import Tuple

import numpy as np

__all__ = ['SYNTHETIC_2D_CLASSES', 'SYNTHETIC_2D_LUT', 'LIDARSEG_CLASSES', 'to_synthetic_2d',
           'LABEL_MAPS']

#: ADE20K-like 2D classes (ids = positions).
SYNTHETIC_2D_CLASSES: Tuple[str, ...] = (
    'sky', 'building', 'tree', 'grass', 'road', 'sidewalk', 'person', 'vehicle', 'bicycle',
    'pole_fence')

#: nuScenes-lidarseg-16 (the synthetic SEMANTIC_CLASSES without sky), the downstream classes.
LIDARSEG_CLASSES: Tuple[str, ...] = (
    'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle', 'pedestrian',
    'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat', 'sidewalk',
    'terrain', 'manmade', 'vegetation')

_TO_2D = {
    'barrier': 'pole_fence', 'bicycle': 'bicycle', 'bus': 'vehicle', 'car': 'vehicle',
    'construction_vehicle': 'vehicle', 'motorcycle': 'bicycle', 'pedestrian': 'person',
    'traffic_cone': 'pole_fence', 'trailer': 'vehicle', 'truck': 'vehicle',
    'driveable_surface': 'road', 'other_flat': 'road', 'sidewalk': 'sidewalk',
    'terrain': 'grass', 'manmade': 'building', 'vegetation': 'tree', 'sky': 'sky'}

#: (256,) uint8 lookup: synthetic ``SEMANTIC_CLASSES`` id -> ``SYNTHETIC_2D_CLASSES`` id (255 =
#: unlabelled).
SYNTHETIC_2D_LUT = np.full(256, 255, dtype=np.uint8)
for _i, _name in enumerate(LIDARSEG_CLASSES + ('sky',)):
    SYNTHETIC_2D_LUT[_i] = SYNTHETIC_2D_CLASSES.index(_TO_2D[_name])


def to_synthetic_2d(semantic: np.ndarray) -> np.ndarray:
    """Map a synthetic ``semseg`` PNG (SEMANTIC_CLASSES ids) to ``SYNTHETIC_2D_CLASSES`` ids."""
    return SYNTHETIC_2D_LUT[np.asarray(semantic, dtype=np.uint8)]


#: Named label maps usable in configs (``SemanticMapSuperpixels(label_map='synthetic_2d')``).
LABEL_MAPS = {'synthetic_2d': to_synthetic_2d}
