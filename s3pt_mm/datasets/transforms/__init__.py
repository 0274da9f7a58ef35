"""Pre-training transforms, registered into mmpretrain's TRANSFORMS."""
from .complete_depth import CompleteDepth
from .load_camera_image import LoadCameraImage
from .load_lidar_points import LoadLidarPoints
from .load_precomputed_depth import LoadPrecomputedDepth
from .multi_crop_with_depth import MultiCropWithDepth
from .project_lidar_to_depth import ProjectLidarToDepth

__all__ = ['LoadCameraImage', 'LoadLidarPoints', 'ProjectLidarToDepth', 'CompleteDepth',
           'LoadPrecomputedDepth',
           'MultiCropWithDepth']
