"""Weights of the official PETR (mmdetection3d ``projects/PETR``) in this package's layout.

The official head and :class:`~s3pt_mm.det3d.models.PETRHead` compute the same function (see
docs/detection3d.md, "Parity with the official PETR"); their state dicts differ in three ways
that this module converts, both ways:

* names: ``transformer.decoder.layers.i.attentions.0 / .1 / ffns.0`` are
  ``decoder.layers.i.self_attn / cross_attn / ffn``; ``position_encoder`` and ``adapt_pos3d``
  live in ``position_embedding.position_encoder`` / ``.adapt_sine``; the pre-v2 names of
  original PETR checkpoints (``self_attn``, ``multihead_attn``, ``decoder.norm``) are accepted;
* the query sine encoding: the official ``pos2posemb3d`` concatenates the per-coordinate
  embeddings as ``[y | x | z]``, ours (:func:`~s3pt_mm.det3d.geometry.sine_embedding`) as
  ``[z | y | x]``: the input columns of ``query_embedding.0.weight`` are permuted (the
  multi-view sine encodings already agree: ``[view | row | column]`` in both);
* the yaw code: the official box code holds ``(sin r, cos r)`` with ``r = -yaw - pi / 2`` (the
  mmdet3d 0.x yaw), ours ``(sin yaw, cos yaw)`` = ``(-cos r, -sin r)``: rows 6 and 7 of the
  last regression layer are swapped and negated.

``code_weights`` (an ``nn.Parameter`` of the official head, a config value here) is dropped and
reported. Neck weights are copied where a target state dict has the same name and shape.
"""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor

HEAD = 'pts_bbox_head.'
#: official pre-v2 decoder names -> v2 names (the official head's ``_load_from_state_dict``).
_LEGACY = (('.self_attn.', '.attentions.0.'), ('.multihead_attn.', '.attentions.1.'),
           ('.decoder.norm.', '.decoder.post_norm.'))
#: (official, ours) name pieces inside the head, applied to the first match.
_RENAMES = (
    (re.compile(r'^transformer\.decoder\.layers\.(\d+)\.attentions\.0\.'),
     r'decoder.layers.\1.self_attn.'),
    (re.compile(r'^transformer\.decoder\.layers\.(\d+)\.attentions\.1\.'),
     r'decoder.layers.\1.cross_attn.'),
    (re.compile(r'^transformer\.decoder\.layers\.(\d+)\.ffns\.0\.'), r'decoder.layers.\1.ffn.'),
    (re.compile(r'^transformer\.decoder\.layers\.(\d+)\.norms\.'), r'decoder.layers.\1.norms.'),
    (re.compile(r'^transformer\.decoder\.post_norm\.'), 'decoder.post_norm.'),
    (re.compile(r'^position_encoder\.'), 'position_embedding.position_encoder.'),
    (re.compile(r'^adapt_pos3d\.'), 'position_embedding.adapt_sine.'),
    (re.compile(r'^(input_proj|reference_points|query_embedding|cls_branches|reg_branches)\.'),
     r'\1.'),
)
_INVERSE = (
    (re.compile(r'^decoder\.layers\.(\d+)\.self_attn\.'),
     r'transformer.decoder.layers.\1.attentions.0.'),
    (re.compile(r'^decoder\.layers\.(\d+)\.cross_attn\.'),
     r'transformer.decoder.layers.\1.attentions.1.'),
    (re.compile(r'^decoder\.layers\.(\d+)\.ffn\.'), r'transformer.decoder.layers.\1.ffns.0.'),
    (re.compile(r'^decoder\.layers\.(\d+)\.norms\.'), r'transformer.decoder.layers.\1.norms.'),
    (re.compile(r'^decoder\.post_norm\.'), 'transformer.decoder.post_norm.'),
    (re.compile(r'^position_embedding\.position_encoder\.'), 'position_encoder.'),
    (re.compile(r'^position_embedding\.adapt_sine\.'), 'adapt_pos3d.'),
    (re.compile(r'^(input_proj|reference_points|query_embedding|cls_branches|reg_branches)\.'),
     r'\1.'),
)
#: Neck: official CPFPN lateral 1x1 convs -> mmdet ChannelMapper convs (same role).
_NECK = ((re.compile(r'^img_neck\.lateral_convs\.(\d+)\.conv\.'), r'img_neck.convs.\1.conv.'), )
#: ours [z | y | x] block k comes from official [y | x | z] block QUERY_BLOCKS[k].
QUERY_BLOCKS = (2, 0, 1)
DEFAULT_CODE_WEIGHTS = (1.0, ) * 8 + (0.2, 0.2)


@dataclass
class PETRConversion:
    """Result of a conversion.

    Attributes:
        state_dict (Dict[str, Tensor]): converted weights (full model names).
        missing (List[str]): target keys the source did not provide (target given only).
        unexpected (List[str]): source keys that were not converted.
        dropped (Dict[str, str]): source keys dropped on purpose, with the reason.
    """
    state_dict: Dict[str, Tensor]
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    dropped: Dict[str, str] = field(default_factory=dict)

    def head_report(self) -> Tuple[List[str], List[str]]:
        """(missing, unexpected) restricted to head keys."""
        return ([k for k in self.missing if k.startswith(HEAD)],
                [k for k in self.unexpected if k.startswith(HEAD)])


def _rename(name: str, rules) -> Optional[str]:
    for pattern, repl in rules:
        if pattern.search(name):
            return pattern.sub(repl, name, count=1)
    return None


def _last_reg_layer(names) -> Optional[str]:
    """Index of the last Linear of the regression branches (the one that emits the code)."""
    idx = [int(m.group(1)) for n in names
           for m in [re.match(r'reg_branches\.\d+\.(\d+)\.weight$', n)] if m]
    return str(max(idx)) if idx else None


def _swap_yaw_rows(t: Tensor) -> Tensor:
    """(sin a, cos a) rows <-> (-cos a, -sin a): the map is its own inverse."""
    out = t.clone()
    out[6], out[7] = -t[7], -t[6]
    return out


def _permute_query_columns(weight: Tensor, blocks: Tuple[int, ...]) -> Tensor:
    f = weight.shape[1] // 3
    return torch.cat([weight[:, b * f:(b + 1) * f] for b in blocks], dim=1)


def _convert_head(src: Mapping[str, Tensor], rules, query_blocks) -> Tuple[
        Dict[str, Tensor], List[str]]:
    out, unexpected = {}, []
    last = _last_reg_layer(src)
    for name, value in src.items():
        new = _rename(name, rules)
        if new is None:
            unexpected.append(name)
            continue
        if last is not None and re.match(rf'reg_branches\.\d+\.{last}\.(weight|bias)$', name):
            value = _swap_yaw_rows(value)
        if name == 'query_embedding.0.weight':
            value = _permute_query_columns(value, query_blocks)
        out[new] = value
    return out, unexpected


def official_to_s3pt(state_dict: Mapping[str, Tensor],
                     target: Optional[Mapping[str, Tensor]] = None) -> PETRConversion:
    """Convert an official PETR detector state dict to :class:`~s3pt_mm.det3d.models.PETR`.

    Args:
        state_dict (Mapping[str, Tensor]): official weights (``pts_bbox_head.*``,
            ``img_neck.*``, ``img_backbone.*``).
        target (Optional[Mapping[str, Tensor]]): our model's state dict; with it, missing keys
            are listed and neck weights of matching name and shape are copied.

    Returns:
        PETRConversion: converted weights and the report.
    """
    head_src, dropped, unexpected, out = {}, {}, [], {}
    for name, value in state_dict.items():
        if name.startswith(HEAD):
            rel = name[len(HEAD):]
            if rel.startswith('transformer.'):
                for old, new in _LEGACY:
                    rel = rel.replace(old, new)
            if rel == 'code_weights':
                dropped[name] = (f'a config value here (PETRHead code_weights), official '
                                 f'values {[round(float(v), 4) for v in value]}')
                continue
            head_src[rel] = value
        elif name.startswith('img_neck.'):
            new = _rename(name, _NECK)
            if (new is not None and target is not None and new in target
                    and tuple(target[new].shape) == tuple(value.shape)):
                out[new] = value
            else:
                dropped[name] = 'neck weight without a same-shape counterpart'
        elif name.startswith('img_backbone.'):
            dropped[name] = 'image backbone (ours is the frozen pre-trained ViT)'
        else:
            unexpected.append(name)
    head, head_unexpected = _convert_head(head_src, _RENAMES, QUERY_BLOCKS)
    out.update({HEAD + k: v for k, v in head.items()})
    unexpected += [HEAD + k for k in head_unexpected]
    missing = []
    if target is not None:
        missing = [k for k in target if k.startswith(HEAD) and k not in out]
        unexpected += [k for k in out if k not in target]
    return PETRConversion(out, missing, unexpected, dropped)


def s3pt_to_official(state_dict: Mapping[str, Tensor],
                     code_weights=DEFAULT_CODE_WEIGHTS) -> Dict[str, Tensor]:
    """Inverse of :func:`official_to_s3pt` for the head (``pts_bbox_head.*`` keys only).

    Args:
        state_dict (Mapping[str, Tensor]): our model's (or head's, prefixed) weights.
        code_weights: the official ``code_weights`` parameter to add.

    Returns:
        Dict[str, Tensor]: official-layout head weights.

    Raises:
        KeyError: naming a head key that has no official counterpart.
    """
    inverse_blocks = tuple(QUERY_BLOCKS.index(k) for k in range(3))
    head = {k[len(HEAD):]: v for k, v in state_dict.items() if k.startswith(HEAD)}
    out, unexpected = _convert_head(head, _INVERSE, inverse_blocks)
    if unexpected:
        raise KeyError(f'no official PETR counterpart for {unexpected}')
    out = {HEAD + k: v for k, v in out.items()}
    out[HEAD + 'code_weights'] = torch.tensor(code_weights, dtype=torch.float32)
    return out
