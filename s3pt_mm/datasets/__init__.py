"""Pre-training datasets and transforms, registered into mmpretrain's registries."""
from .nuscenes_camera_dataset import NUSCENES_CAMERAS, NuScenesCameraDataset
from .transforms import (CompleteDepth, LoadLidarPoints, LoadPrecomputedDepth,
                         MultiCropWithDepth, ProjectLidarToDepth)

__all__ = ['NuScenesCameraDataset', 'NUSCENES_CAMERAS', 'LoadLidarPoints', 'ProjectLidarToDepth',
           'CompleteDepth', 'LoadPrecomputedDepth', 'MultiCropWithDepth']
