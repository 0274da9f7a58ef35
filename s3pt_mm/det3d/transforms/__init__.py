"""Multi-view image transforms that keep the camera matrices consistent (mmdet3d TRANSFORMS)."""
from .multi_view_resize_crop_flip import MultiViewResizeCropFlip

__all__ = ['MultiViewResizeCropFlip']
