"""CM3D: shelf-supervised 3D pseudo-labels from 2D instance masks and LiDAR (docs/cm3d.md).

Pure lifting functions in :mod:`~s3pt_mm.cm3d.lifting`, the per-sample labeller in
:mod:`~s3pt_mm.cm3d.pseudo_labeler`, mask sources in :mod:`~s3pt_mm.cm3d.mask_sources`, the
comparison with ground truth in :mod:`~s3pt_mm.cm3d.evaluation`.
"""
from .mask_sources import InstanceMask, MaskSource, build_mask_source
from .pseudo_labeler import COUNT_KEYS, CM3DConfig, CM3DLabeller, PseudoBox

__all__ = ['CM3DConfig', 'CM3DLabeller', 'PseudoBox', 'COUNT_KEYS', 'InstanceMask',
           'MaskSource', 'build_mask_source']
