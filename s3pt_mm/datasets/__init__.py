"""Pre-training datasets and transforms, registered into mmpretrain's registries."""
from .nuscenes_camera_dataset import NUSCENES_CAMERAS, NuScenesCameraDataset
from .sample_seed import SampleIndex
from .samplers import EpochSeededSampler
from .transforms import (CompleteDepth, LoadCameraImage, LoadLidarPoints, LoadPrecomputedDepth,
                         MultiCropWithDepth, ProjectLidarToDepth)
from .transforms3d import CheckedLoadPointsFromFile, CheckedLoadPointsFromMultiSweeps
from .validation import DataValidationError

__all__ = ['NuScenesCameraDataset', 'NUSCENES_CAMERAS', 'LoadCameraImage', 'LoadLidarPoints',
           'ProjectLidarToDepth', 'CompleteDepth', 'LoadPrecomputedDepth', 'MultiCropWithDepth',
           'DataValidationError', 'CheckedLoadPointsFromFile', 'CheckedLoadPointsFromMultiSweeps',
           'EpochSeededSampler', 'SampleIndex']
