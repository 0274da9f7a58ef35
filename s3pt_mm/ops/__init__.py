"""Pure tensor/array operations (no OpenMMLab imports): LiDAR depth maps and completion.

CUDA kernels for some of them live in ``csrc/`` and are compiled into ``s3pt_mm._ext`` when
a GPU is visible or ``FORCE_CUDA=1`` (see :mod:`s3pt_mm.ops.ext_loader`); without them every
function runs its PyTorch / OpenCV path.
"""
from .depth_projection import project_points_to_depth
from .ext_loader import ExtensionUnavailableError, ext_available, load_ext
from .ip_basic import fill_in_fast, fill_in_multiscale

__all__ = [
    'project_points_to_depth', 'fill_in_fast', 'fill_in_multiscale', 'ext_available',
    'load_ext', 'ExtensionUnavailableError'
]
