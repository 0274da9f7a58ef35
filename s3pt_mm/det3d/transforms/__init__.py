"""Multi-view transforms that keep the camera matrices consistent (mmdet3d TRANSFORMS)."""
from .global_rot_scale_bev import GlobalRotScaleBEV
from .multi_view_resize_crop_flip import MultiViewResizeCropFlip

__all__ = ['GlobalRotScaleBEV', 'MultiViewResizeCropFlip']
