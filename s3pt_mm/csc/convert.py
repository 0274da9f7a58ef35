"""CSC / SLidR pre-training checkpoint -> mmdet3d ``MinkUNet`` weights (docs/csc.md §8)."""
from typing import Dict, Mapping, Tuple

from torch import Tensor

__all__ = ['csc_to_minkunet']

#: Pre-training-only modules, dropped from the downstream checkpoint.
PRETRAIN_ONLY = ('point_head.', 'image_backbone.', 'image_decoder.', 'criterion.',
                 'data_preprocessor.')


def csc_to_minkunet(state_dict: Mapping[str, Tensor], name: str = 'checkpoint'
                    ) -> Tuple[Dict[str, Tensor], Dict[str, int]]:
    """Keep the 3D backbone of a ``CSCPretrainer`` state dict, keys ``backbone.*`` unchanged.

    mmdet3d's ``MinkUNet`` segmentor names its backbone ``backbone`` too, so the result loads
    with ``load_from`` or with ``init_cfg=dict(type='Pretrained', checkpoint=...,
    prefix='backbone.')`` on the ``MinkUNetBackbone`` config.

    Sparse-convolution kernels are written in MMCV's spconv-1 layout (D, H, W, C_in, C_out)
    and the result is a plain dict (no ``_metadata``): mmdet3d's spconv-2 loader permutes
    kernels of a state dict without ``version=2`` metadata into its (C_out, D, H, W, C_in)
    layout, and mmengine's ``Pretrained(prefix=...)`` drops that metadata, so this is the
    one layout that loads correctly on every path.

    Args:
        state_dict (Mapping[str, Tensor]): the pre-training model's weights.
        name (str): the checkpoint's name for error messages.

    Returns:
        Tuple[Dict[str, Tensor], Dict[str, int]]: the backbone weights, and counts of kept
        and dropped keys.

    Raises:
        ValueError: if there is no ``backbone.`` key or an unknown top-level module (named).
    """
    out, dropped = {}, 0
    for key, value in state_dict.items():
        if key.startswith('backbone.'):
            # spconv-2 (C_out, D, H, W, C_in) -> MMCV (D, H, W, C_in, C_out); see above.
            out[key] = value.permute(1, 2, 3, 4, 0).contiguous() if value.dim() == 5 else value
        elif key.startswith(PRETRAIN_ONLY):
            dropped += 1
        else:
            raise ValueError(f'{name}: unexpected key {key!r}; is this a CSCPretrainer '
                             'checkpoint?')
    if not out:
        raise ValueError(f'{name}: no backbone.* weights found')
    return out, dict(kept=len(out), dropped=dropped)
