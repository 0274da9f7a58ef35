"""3D detection downstream protocol (docs/method.md §8): PETR with a frozen pre-trained ViT.

Importing this package registers, into mmdetection3d's registries: the detector
(:class:`PETR`), its head (:class:`PETRHead`), :class:`PositionEmbedding3D`,
:class:`FrozenBackbone`, :class:`GridMask` (MODELS), :class:`NMSFreeBBoxCoder` and
:class:`BBox3DL1Cost`, :class:`HungarianAssigner3D` (TASK_UTILS), :class:`MultiViewResizeCropFlip`,
:class:`GlobalRotScaleBEV` (TRANSFORMS) and
:class:`NuScenesRangeMetric` (METRICS). See docs/detection3d.md.
"""
from .evaluation import NuScenesRangeMetric
from .models import (PETR, BBox3DL1Cost, FrozenBackbone, GridMask, HungarianAssigner3D,
                     NMSFreeBBoxCoder, PETRHead, PositionEmbedding3D)
from .transforms import GlobalRotScaleBEV, MultiViewResizeCropFlip

__all__ = ['PETR', 'PETRHead', 'PositionEmbedding3D', 'FrozenBackbone', 'GridMask',
           'NMSFreeBBoxCoder', 'BBox3DL1Cost', 'HungarianAssigner3D', 'MultiViewResizeCropFlip',
           'GlobalRotScaleBEV', 'NuScenesRangeMetric']
