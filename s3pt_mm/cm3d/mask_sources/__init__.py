"""CM3D mask sources behind one interface (:class:`MaskSource`), built from a config dict."""
from typing import Mapping

from .base import InstanceMask, MaskSource
from .generator_masks import GeneratorMaskSource

__all__ = ['InstanceMask', 'MaskSource', 'GeneratorMaskSource', 'build_mask_source']


def build_mask_source(cfg: Mapping) -> MaskSource:
    """Build a mask source from ``dict(type=<name>, **kwargs)``.

    Types: ``'generator'`` (:class:`GeneratorMaskSource`), ``'segmentation'``
    (:class:`~s3pt_mm.cm3d.mask_sources.segmentation_masks.SegmentationMaskSource`),
    ``'foundation'`` (:class:`~s3pt_mm.cm3d.mask_sources.foundation_masks.FoundationMaskSource`).

    Raises:
        ValueError: for an unknown type (the known ones are listed).
    """
    cfg = dict(cfg)
    kind = cfg.pop('type', None)
    if kind == 'generator':
        return GeneratorMaskSource(**cfg)
    if kind == 'segmentation':
        from .segmentation_masks import SegmentationMaskSource
        return SegmentationMaskSource(**cfg)
    if kind == 'foundation':
        from .foundation_masks import FoundationMaskSource
        return FoundationMaskSource(**cfg)
    raise ValueError(f"mask source type must be 'generator', 'segmentation' or 'foundation', "
                     f'got {kind!r}')
