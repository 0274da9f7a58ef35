"""Checkpoint and key converters between pre-training and downstream models.

Importing this package does not import OpenMMLab (only :func:`mmseg_vit_report` does, lazily).
"""
from .convert_backbone import (ConvertedBackbone, convert_to_mmseg, convert_to_timm,
                               mmseg_vit_kwargs, mmseg_vit_report)
from .pretrain_checkpoint import (BACKBONE_PREFIXES, checkpoint_state_dict, extract_backbone,
                                  load_pretrain_checkpoint)
from .vit_key_mapping import (KeyReport, ViTArch, compare_keys, infer_vit_arch,
                              mmpretrain_vit_to_mmseg, mmpretrain_vit_to_timm, timm_vit_shapes)

__all__ = [
    'BACKBONE_PREFIXES', 'ConvertedBackbone', 'KeyReport', 'ViTArch', 'checkpoint_state_dict',
    'compare_keys', 'convert_to_mmseg', 'convert_to_timm', 'extract_backbone', 'infer_vit_arch',
    'load_pretrain_checkpoint', 'mmpretrain_vit_to_mmseg', 'mmpretrain_vit_to_timm',
    'mmseg_vit_kwargs', 'mmseg_vit_report', 'timm_vit_shapes'
]
