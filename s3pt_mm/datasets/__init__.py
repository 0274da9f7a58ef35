"""Pre-training datasets and transforms, registered into mmpretrain's registries.

The LiDAR point loaders of ``transforms3d`` register into mmdet3d's registries and need mmdet3d:
they are imported by ``s3pt_mm.datasets.transforms3d`` itself (the mmdet3d-scope configs list it
in ``custom_imports``), not here, so that ``import s3pt_mm`` needs no mmdet3d.
"""
from .nuscenes_camera_dataset import NUSCENES_CAMERAS, NuScenesCameraDataset
from .sample_seed import SampleIndex
from .samplers import EpochSeededSampler
from .transforms import (CompleteDepth, LoadCameraImage, LoadLidarPoints, LoadPrecomputedDepth,
                         MultiCropWithDepth, ProjectLidarToDepth)
from .validation import DataValidationError

__all__ = ['NuScenesCameraDataset', 'NUSCENES_CAMERAS', 'LoadCameraImage', 'LoadLidarPoints',
           'ProjectLidarToDepth', 'CompleteDepth', 'LoadPrecomputedDepth', 'MultiCropWithDepth',
           'DataValidationError', 'EpochSeededSampler', 'SampleIndex']
