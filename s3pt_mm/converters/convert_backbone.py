"""Pre-training checkpoint -> downstream ViT weights (mmseg or timm), with a key report.

``tools/model_converters/s3pt_to_mmseg.py`` and ``s3pt_to_timm.py`` are thin CLIs over
:func:`convert_to_mmseg` and :func:`convert_to_timm`; PETR's backbone loading can reuse them.
"""
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any, Dict, Mapping, Optional

import torch

from .pretrain_checkpoint import checkpoint_state_dict, extract_backbone
from .vit_key_mapping import (KeyReport, ViTArch, compare_keys, infer_vit_arch,
                              mmpretrain_vit_to_mmseg, mmpretrain_vit_to_timm, timm_vit_shapes)


@dataclass
class ConvertedBackbone:
    """A converted backbone and how it fits its target.

    Attributes:
        state_dict (OrderedDict[str, Tensor]): weights under the target's names.
        arch (ViTArch): the architecture read from the weights.
        prefix (str): where the backbone was found in the checkpoint.
        report (KeyReport): missing / unexpected / mismatched keys against the target model.
    """

    state_dict: 'OrderedDict[str, torch.Tensor]'
    arch: ViTArch
    prefix: str
    report: KeyReport

    def to_checkpoint(self, meta: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """``{'state_dict', 'meta'}``, the layout mmseg's ``init_cfg=Pretrained`` reads."""
        info = dict(source_prefix=self.prefix, arch=asdict(self.arch))
        info.update(meta or {})
        return dict(state_dict=self.state_dict, meta=info)


def mmseg_vit_kwargs(arch: ViTArch, num_heads: int = 1) -> Dict[str, Any]:
    """Keyword arguments of an mmseg ``VisionTransformer`` that holds ``arch``'s weights.

    The heads do not change any weight shape; pass the real number to compute features.
    LayerNorm eps is mmpretrain's 1e-6 (mmseg's default is 1e-5, which changes the features).

    Args:
        arch (ViTArch): the architecture read from the weights.
        num_heads (int): attention heads. Defaults to 1 (enough to check names and shapes).

    Returns:
        Dict[str, Any]: ``type='VisionTransformer'`` plus its arguments.

    Raises:
        ValueError: if the FFN width is not an integer multiple of the token width (mmseg's ViT
            only takes an integer ``mlp_ratio``).
    """
    if arch.mlp_ratio != int(arch.mlp_ratio):
        raise ValueError(f'mmseg\'s VisionTransformer needs an integer mlp_ratio, the weights '
                         f'have {arch.mlp_ratio}')
    return dict(
        type='VisionTransformer',
        img_size=arch.img_size,
        patch_size=arch.patch_size,
        embed_dims=arch.embed_dims,
        num_layers=arch.num_layers,
        num_heads=num_heads,
        mlp_ratio=int(arch.mlp_ratio),
        qkv_bias=arch.qkv_bias,
        patch_bias=arch.patch_bias,
        with_cls_token=arch.with_cls_token,
        pre_norm=arch.pre_norm,
        final_norm=arch.final_norm,
        norm_cfg=dict(type='LN', eps=1e-6),
    )


def mmseg_vit_report(state_dict: Mapping[str, torch.Tensor], arch: ViTArch) -> KeyReport:
    """Compare mmseg-named weights with a freshly built mmseg ``VisionTransformer``.

    mmseg's ``init_weights`` loads with ``strict=False`` and would silently skip misnamed
    weights, so the names are checked here against the real module.

    Args:
        state_dict (Mapping[str, Tensor]): weights under mmseg names.
        arch (ViTArch): the architecture to build.

    Returns:
        KeyReport: missing, unexpected and shape-mismatched keys.
    """
    from mmseg.models.backbones import VisionTransformer  # imported lazily: mmseg is heavy

    kwargs = mmseg_vit_kwargs(arch)
    kwargs.pop('type')
    model = VisionTransformer(**kwargs)
    return compare_keys(state_dict, {k: v.shape for k, v in model.state_dict().items()})


def _backbone(checkpoint: Mapping[str, Any], source: str, name: str):
    weights, prefix = extract_backbone(checkpoint_state_dict(checkpoint, name), source, name)
    return weights, prefix, infer_vit_arch(weights)


def convert_to_mmseg(checkpoint: Mapping[str, Any], source: str = 'teacher',
                     name: str = 'checkpoint') -> ConvertedBackbone:
    """Convert a pre-training checkpoint's backbone to mmseg ``VisionTransformer`` weights.

    Args:
        checkpoint (Mapping): a loaded Runner checkpoint (or a bare state dict).
        source (str): ``'teacher'`` (default) or ``'student'``.
        name (str): how to call the checkpoint in error messages (e.g. its path).

    Returns:
        ConvertedBackbone: mmseg-named weights (patch bias kept, ``pos_embed`` at the
        pre-training grid), the architecture and the key report against mmseg's ViT.

    Raises:
        ValueError: if the backbone is not found or holds weights mmseg's ViT cannot take.
    """
    weights, prefix, arch = _backbone(checkpoint, source, name)
    converted = mmpretrain_vit_to_mmseg(weights)
    return ConvertedBackbone(converted, arch, prefix, mmseg_vit_report(converted, arch))


def convert_to_timm(checkpoint: Mapping[str, Any], source: str = 'teacher',
                    name: str = 'checkpoint') -> ConvertedBackbone:
    """Convert a pre-training checkpoint's backbone to timm ``VisionTransformer`` weights.

    The report compares with timm's names and shapes (:func:`timm_vit_shapes`) for a ViT
    without classifier (``timm.create_model(..., num_classes=0)``).

    Args:
        checkpoint (Mapping): a loaded Runner checkpoint (or a bare state dict).
        source (str): ``'teacher'`` (default) or ``'student'``.
        name (str): how to call the checkpoint in error messages.

    Returns:
        ConvertedBackbone: timm-named weights, architecture, prefix and key report.

    Raises:
        ValueError: if the backbone is not found or holds weights that are not ViT weights.
    """
    weights, prefix, arch = _backbone(checkpoint, source, name)
    converted = mmpretrain_vit_to_timm(weights)
    return ConvertedBackbone(converted, arch, prefix, compare_keys(converted,
                                                                   timm_vit_shapes(arch)))
