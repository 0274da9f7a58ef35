"""Take the teacher or student backbone out of a pre-training checkpoint.

A pre-training checkpoint is what mmengine's ``Runner`` writes (``{'meta', 'state_dict',
'message_hub', 'optimizer', ...}``) for an mmpretrain ``BaseSelfSupervisor`` (S3PT, CrIBo, DINO):

* the student backbone lives under ``backbone.``;
* the teacher is an mmengine EMA wrapper (``CosineEMA``) around ``nn.ModuleDict(backbone=...,
  head=...)``, so its backbone lives under ``teacher.module.backbone.``.

Downstream evaluation uses the teacher by default (as DINO, CrIBo and S3PT report).
"""
import os
from collections import OrderedDict
from typing import Any, Dict, Mapping, Tuple

import torch

#: Where each backbone can live in a state dict, most specific first.
BACKBONE_PREFIXES: Dict[str, Tuple[str, ...]] = {
    'teacher': ('teacher.module.backbone.', 'teacher.backbone.'),
    'student': ('backbone.', ),
}


def checkpoint_state_dict(checkpoint: Mapping[str, Any], name: str = 'checkpoint') -> Mapping:
    """Return the ``state_dict`` of a Runner checkpoint, or the mapping itself if it is one.

    Args:
        checkpoint (Mapping): a loaded checkpoint file.
        name (str): how to call it in error messages (e.g. its path).

    Returns:
        Mapping[str, Tensor]: the model weights.

    Raises:
        ValueError: if it is neither a checkpoint with ``state_dict`` nor a dict of tensors.
    """
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f'{name}: expected a dict, got {type(checkpoint).__name__}')
    if 'state_dict' in checkpoint:
        return checkpoint['state_dict']
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    raise ValueError(f'{name}: no "state_dict" entry and not a dict of tensors '
                     f'(top-level keys: {sorted(checkpoint)[:10]})')


def extract_backbone(state_dict: Mapping[str, torch.Tensor], source: str = 'teacher',
                     name: str = 'checkpoint') -> Tuple['OrderedDict[str, torch.Tensor]', str]:
    """Select one backbone's weights and strip their prefix.

    Args:
        state_dict (Mapping[str, Tensor]): all model weights.
        source (str): ``'teacher'`` or ``'student'``. Defaults to ``'teacher'``.
        name (str): how to call the checkpoint in error messages.

    Returns:
        Tuple[OrderedDict[str, Tensor], str]: the backbone weights (keys like ``cls_token``,
        ``layers.0.attn.qkv.weight``) and the prefix they were found under.

    Raises:
        ValueError: if ``source`` is unknown or none of its prefixes occurs; the message lists
            the prefixes searched and the top-level names the checkpoint does have.
    """
    if source not in BACKBONE_PREFIXES:
        raise ValueError(f'source must be one of {sorted(BACKBONE_PREFIXES)}, got {source!r}')
    for prefix in BACKBONE_PREFIXES[source]:
        weights = OrderedDict((k[len(prefix):], v) for k, v in state_dict.items()
                              if k.startswith(prefix))
        if weights:
            return weights, prefix
    top = sorted({k.split('.')[0] for k in state_dict})
    others = [s for s in BACKBONE_PREFIXES if s != source]
    raise ValueError(f'{name}: no {source} backbone (searched prefixes '
                     f'{list(BACKBONE_PREFIXES[source])}; top-level names present: {top}). '
                     f'Is it a pre-training checkpoint? Try source={others}.')


def load_pretrain_checkpoint(path: str, trusted: bool = False) -> Mapping[str, Any]:
    """Load a checkpoint file on the CPU.

    Args:
        path (str): the file.
        trusted (bool): unpickle everything (``weights_only=False``). Needed only for
            checkpoints written by plain mmengine outside s3pt_mm (their message hub pickles
            function references). Defaults to False (torch's safe loader with the types
            ``import s3pt_mm`` allow-lists).

    Returns:
        Mapping: the loaded object.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    # Registers the numpy / mmengine types Runner checkpoints contain for the safe loader.
    from s3pt_mm.utils import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    return torch.load(path, map_location='cpu', weights_only=not trusted)
