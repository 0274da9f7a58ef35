"""mmdet3d point loaders with the checks of docs/data_validation.md, registered into mmdet3d's
TRANSFORMS for the LiDAR configs (CenterPoint, CM3D, CSC)."""
from .checked_load_points import CheckedLoadPointsFromFile
from .checked_load_sweeps import CheckedLoadPointsFromMultiSweeps

__all__ = ['CheckedLoadPointsFromFile', 'CheckedLoadPointsFromMultiSweeps']
