"""Pure tensor/array operations (no OpenMMLab imports): LiDAR depth maps and completion."""
from .depth_projection import project_points_to_depth
from .ip_basic import fill_in_fast, fill_in_multiscale

__all__ = ['project_points_to_depth', 'fill_in_fast', 'fill_in_multiscale']
