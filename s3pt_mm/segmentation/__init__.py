"""Downstream semantic segmentation (mmsegmentation): datasets, metrics, hooks.

Importing this package registers into mmseg's registries: ``NuImagesSegDataset``,
``SyntheticDrivingSegDataset`` (DATASETS), ``PerClassIoUMetric``, ``CrossDatasetIoUMetric``
(METRICS) and ``SegComparisonHook`` (HOOKS). See docs/segmentation.md.
"""
from .cross_dataset_iou_metric import CrossDatasetIoUMetric
from .label_spaces import (CITYSCAPES_CLASSES, NUIMAGES_SEG_CLASSES, SHARED_CLASSES,
                           TO_SHARED)
from .nuimages_seg_dataset import NuImagesSegDataset
from .per_class_iou_metric import PerClassIoUMetric
from .seg_comparison_hook import SegComparisonHook
from .synthetic_driving_seg_dataset import SyntheticDrivingSegDataset

__all__ = [
    'CITYSCAPES_CLASSES', 'CrossDatasetIoUMetric', 'NUIMAGES_SEG_CLASSES', 'NuImagesSegDataset',
    'PerClassIoUMetric', 'SHARED_CLASSES', 'SegComparisonHook', 'SyntheticDrivingSegDataset',
    'TO_SHARED'
]
