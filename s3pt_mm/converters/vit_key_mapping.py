"""Rename the weights of an mmpretrain ``VisionTransformer`` for mmseg's and timm's ViTs.

The three implementations compute the same function with different parameter names:

==================================  =================================  ======================
mmpretrain (pre-training)           mmseg ``VisionTransformer``        timm
==================================  =================================  ======================
``cls_token``, ``pos_embed``        same                               same
``patch_embed.projection.*``        same (needs ``patch_bias=True``)   ``patch_embed.proj.*``
``pre_norm.*`` (CLIP-style only)    ``ln_pre.*`` (``pre_norm=True``)   ``norm_pre.*``
``layers.N.ln1.*``                  same                               ``blocks.N.norm1.*``
``layers.N.attn.qkv.*``             ``layers.N.attn.attn.in_proj_*``   ``blocks.N.attn.qkv.*``
``layers.N.attn.proj.*``            ``layers.N.attn.attn.out_proj.*``  ``blocks.N.attn.proj.*``
``layers.N.attn.gamma1.weight``     (no layer scale: refused)          ``blocks.N.ls1.gamma``
``layers.N.ln2.*``                  same                               ``blocks.N.norm2.*``
``layers.N.ffn.layers.0.0.*``       same                               ``blocks.N.mlp.fc1.*``
``layers.N.ffn.layers.1.*``         same                               ``blocks.N.mlp.fc2.*``
``layers.N.ffn.gamma2.weight``      (no layer scale: refused)          ``blocks.N.ls2.gamma``
``ln1.*`` (final norm)              same (``final_norm=True``)         ``norm.*``
==================================  =================================  ======================

The fused q/k/v projection is stored the same way everywhere: rows ``[0, C)`` are q, ``[C, 2C)``
k and ``[2C, 3C)`` v, which is also ``torch.nn.MultiheadAttention``'s ``in_proj`` layout, so
the tensors are renamed, never re-arranged. ``pos_embed`` keeps the pre-training grid: mmseg's ViT
resizes it (bicubic) to its ``img_size`` grid when loading and to each input's grid in forward; a
timm model must be created with the pre-training image size (e.g. ``vit_small_patch16_224``).

Pure functions on ``{name: tensor}`` dicts: no OpenMMLab import.
"""
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch

#: (pattern on an mmpretrain key, mmseg name); ``None`` = no mmseg equivalent.
_MMSEG_RULES: Sequence[Tuple[str, Optional[str]]] = (
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^patch_embed\.projection\.(weight|bias)$', r'patch_embed.projection.\1'),
    (r'^pre_norm\.(weight|bias)$', r'ln_pre.\1'),
    (r'^layers\.(\d+)\.(ln1|ln2)\.(weight|bias)$', r'layers.\1.\2.\3'),
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'layers.\1.attn.attn.in_proj_\2'),
    (r'^layers\.(\d+)\.attn\.proj\.(weight|bias)$', r'layers.\1.attn.attn.out_proj.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$', r'layers.\1.ffn.layers.0.0.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)$', r'layers.\1.ffn.layers.1.\2'),
    (r'^layers\.(\d+)\.(attn\.gamma1|ffn\.gamma2)\.weight$', None),
    (r'^ln1\.(weight|bias)$', r'ln1.\1'),
)

#: (pattern on an mmpretrain key, timm name).
_TIMM_RULES: Sequence[Tuple[str, Optional[str]]] = (
    (r'^(cls_token|pos_embed)$', r'\1'),
    (r'^patch_embed\.projection\.(weight|bias)$', r'patch_embed.proj.\1'),
    (r'^pre_norm\.(weight|bias)$', r'norm_pre.\1'),
    (r'^layers\.(\d+)\.ln1\.(weight|bias)$', r'blocks.\1.norm1.\2'),
    (r'^layers\.(\d+)\.ln2\.(weight|bias)$', r'blocks.\1.norm2.\2'),
    (r'^layers\.(\d+)\.attn\.qkv\.(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.proj\.(weight|bias)$', r'blocks.\1.attn.proj.\2'),
    (r'^layers\.(\d+)\.attn\.gamma1\.weight$', r'blocks.\1.ls1.gamma'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.(weight|bias)$', r'blocks.\1.mlp.fc1.\2'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.(weight|bias)$', r'blocks.\1.mlp.fc2.\2'),
    (r'^layers\.(\d+)\.ffn\.gamma2\.weight$', r'blocks.\1.ls2.gamma'),
    (r'^ln1\.(weight|bias)$', r'norm.\1'),
)


@dataclass(frozen=True)
class ViTArch:
    """The architecture a ViT state dict describes (what a target model must be built with).

    Attributes:
        embed_dims (int): token width C.
        num_layers (int): transformer blocks.
        patch_size (int): square patch side in pixels.
        grid (Tuple[int, int]): (h, w) patch grid of ``pos_embed`` (the pre-training size / patch).
        mlp_ratio (float): FFN hidden width / C.
        qkv_bias (bool): the q/k/v projection has a bias.
        patch_bias (bool): the patch-embedding convolution has a bias.
        with_cls_token (bool): a class token (and its ``pos_embed`` slot) exists.
        pre_norm (bool): a LayerNorm after the position embedding (CLIP style).
        final_norm (bool): a LayerNorm after the last block.
        layer_scale (bool): blocks scale their residual branches (``gamma1``/``gamma2``).
    """

    embed_dims: int
    num_layers: int
    patch_size: int
    grid: Tuple[int, int]
    mlp_ratio: float
    qkv_bias: bool
    patch_bias: bool
    with_cls_token: bool
    pre_norm: bool
    final_norm: bool
    layer_scale: bool

    @property
    def img_size(self) -> Tuple[int, int]:
        """(H, W) in pixels of the resolution ``pos_embed`` was trained at."""
        return self.grid[0] * self.patch_size, self.grid[1] * self.patch_size


def _require(state_dict: Mapping[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state_dict:
        raise ValueError(f'not an mmpretrain VisionTransformer state dict: no {key!r} '
                         f'(first keys: {list(state_dict)[:5]})')
    return state_dict[key]


def infer_vit_arch(state_dict: Mapping[str, torch.Tensor]) -> ViTArch:
    """Read the architecture of an mmpretrain ``VisionTransformer`` from its weights.

    The number of heads does not change any weight shape and cannot be inferred.

    Args:
        state_dict (Mapping[str, Tensor]): backbone weights without prefix (``cls_token``,
            ``layers.0.attn.qkv.weight``, ...).

    Returns:
        ViTArch: the architecture.

    Raises:
        ValueError: if a required weight is missing or ``pos_embed`` is not a square grid.
    """
    proj = _require(state_dict, 'patch_embed.projection.weight')  # (C, 3, p, p)
    embed_dims, patch_size = int(proj.shape[0]), int(proj.shape[-1])
    layer_ids = {int(m.group(1)) for k in state_dict
                 if (m := re.match(r'^layers\.(\d+)\.', k)) is not None}
    if not layer_ids:
        raise ValueError('not an mmpretrain VisionTransformer state dict: no layers.N.* keys')
    num_layers = max(layer_ids) + 1
    if sorted(layer_ids) != list(range(num_layers)):
        raise ValueError(f'transformer blocks are not numbered 0..{num_layers - 1}: '
                         f'found {sorted(layer_ids)}')
    with_cls_token = 'cls_token' in state_dict
    num_tokens = int(_require(state_dict, 'pos_embed').shape[1]) - int(with_cls_token)
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(f'pos_embed holds {num_tokens} patch positions, not a square grid: '
                         'pass the grid explicitly')
    fc1 = _require(state_dict, 'layers.0.ffn.layers.0.0.weight')  # (hidden, C)
    return ViTArch(
        embed_dims=embed_dims,
        num_layers=num_layers,
        patch_size=patch_size,
        grid=(side, side),
        mlp_ratio=fc1.shape[0] / embed_dims,
        qkv_bias='layers.0.attn.qkv.bias' in state_dict,
        patch_bias='patch_embed.projection.bias' in state_dict,
        with_cls_token=with_cls_token,
        pre_norm='pre_norm.weight' in state_dict,
        final_norm='ln1.weight' in state_dict,
        layer_scale='layers.0.attn.gamma1.weight' in state_dict)


def _rename(state_dict: Mapping[str, torch.Tensor],
            rules: Sequence[Tuple[str, Optional[str]]],
            target: str) -> 'OrderedDict[str, torch.Tensor]':
    """Apply the first matching rule to every key; refuse keys no rule (or a None rule) takes."""
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unmapped: List[str] = []
    unsupported: List[str] = []
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            if re.match(pattern, key):
                if replacement is None:
                    unsupported.append(key)
                else:
                    out[re.sub(pattern, replacement, key)] = value
                break
        else:
            unmapped.append(key)
    if unsupported:
        raise ValueError(f'{target} has no equivalent for {len(unsupported)} weights '
                         f'(e.g. {unsupported[:3]}): a ViT with layer scale cannot be loaded '
                         f'into {target}')
    if unmapped:
        raise ValueError(f'{len(unmapped)} keys are not ViT backbone weights known to the '
                         f'{target} mapping: {unmapped[:8]}')
    return out


def mmpretrain_vit_to_mmseg(
        state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename mmpretrain ``VisionTransformer`` weights to mmseg ``VisionTransformer`` names.

    Args:
        state_dict (Mapping[str, Tensor]): backbone weights without prefix.

    Returns:
        OrderedDict[str, Tensor]: the same tensors under mmseg names (module table above).

    Raises:
        ValueError: for keys that are not ViT weights or have no mmseg equivalent (layer
            scale).
    """
    return _rename(state_dict, _MMSEG_RULES, "mmseg's VisionTransformer")


def mmpretrain_vit_to_timm(
        state_dict: Mapping[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename mmpretrain ``VisionTransformer`` weights to timm ``VisionTransformer`` names.

    Args:
        state_dict (Mapping[str, Tensor]): backbone weights without prefix.

    Returns:
        OrderedDict[str, Tensor]: the same tensors under timm names (module table above).

    Raises:
        ValueError: for keys that are not ViT weights.
    """
    return _rename(state_dict, _TIMM_RULES, "timm's VisionTransformer")


def timm_vit_shapes(arch: ViTArch) -> Dict[str, Tuple[int, ...]]:
    """The name -> shape table of a timm ``VisionTransformer`` without classifier.

    timm's ViT (``num_classes=0``, ``global_pool='token'``, ``class_token``, ``qkv_bias``,
    ``no_embed_class=False``): what ``model.state_dict()`` holds for ``arch``.

    Args:
        arch (ViTArch): the architecture.

    Returns:
        Dict[str, Tuple[int, ...]]: expected weight shapes by timm name.
    """
    c, p = arch.embed_dims, arch.patch_size
    hidden = int(round(arch.mlp_ratio * c))
    shapes: Dict[str, Tuple[int, ...]] = {}
    if arch.with_cls_token:
        shapes['cls_token'] = (1, 1, c)
    shapes['pos_embed'] = (1, arch.grid[0] * arch.grid[1] + int(arch.with_cls_token), c)
    shapes['patch_embed.proj.weight'] = (c, 3, p, p)
    if arch.patch_bias:
        shapes['patch_embed.proj.bias'] = (c, )
    if arch.pre_norm:
        shapes['norm_pre.weight'] = shapes['norm_pre.bias'] = (c, )
    for i in range(arch.num_layers):
        b = f'blocks.{i}.'
        shapes[b + 'norm1.weight'] = shapes[b + 'norm1.bias'] = (c, )
        shapes[b + 'attn.qkv.weight'] = (3 * c, c)
        if arch.qkv_bias:
            shapes[b + 'attn.qkv.bias'] = (3 * c, )
        shapes[b + 'attn.proj.weight'] = (c, c)
        shapes[b + 'attn.proj.bias'] = (c, )
        if arch.layer_scale:
            shapes[b + 'ls1.gamma'] = shapes[b + 'ls2.gamma'] = (c, )
        shapes[b + 'norm2.weight'] = shapes[b + 'norm2.bias'] = (c, )
        shapes[b + 'mlp.fc1.weight'] = (hidden, c)
        shapes[b + 'mlp.fc1.bias'] = (hidden, )
        shapes[b + 'mlp.fc2.weight'] = (c, hidden)
        shapes[b + 'mlp.fc2.bias'] = (c, )
    if arch.final_norm:
        shapes['norm.weight'] = shapes['norm.bias'] = (c, )
    return shapes


@dataclass
class KeyReport:
    """How a converted state dict fits a target model.

    Attributes:
        missing (List[str]): target weights the state dict does not provide.
        unexpected (List[str]): state-dict entries the target has no place for.
        shape_mismatch (List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]): (name, given shape,
            target shape) for names both have.
    """

    missing: List[str]
    unexpected: List[str]
    shape_mismatch: List[Tuple[str, Tuple[int, ...], Tuple[int, ...]]]

    @property
    def ok(self) -> bool:
        """True when every weight has exactly one place of the right shape."""
        return not (self.missing or self.unexpected or self.shape_mismatch)

    def summary(self) -> str:
        """One line per problem (or 'all N keys match')."""
        lines = [f'missing keys ({len(self.missing)}): {self.missing}',
                 f'unexpected keys ({len(self.unexpected)}): {self.unexpected}']
        if self.shape_mismatch:
            lines.append(f'shape mismatches ({len(self.shape_mismatch)}): {self.shape_mismatch}')
        return '\n'.join(lines)


def compare_keys(state_dict: Mapping[str, torch.Tensor],
                 target_shapes: Mapping[str, Sequence[int]]) -> KeyReport:
    """Compare a state dict with a target's name -> shape table.

    Args:
        state_dict (Mapping[str, Tensor]): the converted weights.
        target_shapes (Mapping[str, Sequence[int]]): e.g. ``{k: v.shape for k, v in
            model.state_dict().items()}`` or :func:`timm_vit_shapes`.

    Returns:
        KeyReport: missing, unexpected and mismatched-shape keys (sorted).
    """
    given, wanted = set(state_dict), set(target_shapes)
    mismatch = [(k, tuple(state_dict[k].shape), tuple(target_shapes[k]))
                for k in sorted(given & wanted)
                if tuple(state_dict[k].shape) != tuple(target_shapes[k])]
    return KeyReport(missing=sorted(wanted - given), unexpected=sorted(given - wanted),
                     shape_mismatch=mismatch)
