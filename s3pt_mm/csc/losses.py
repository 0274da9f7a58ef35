"""CSC's two losses: superpixel-superpoint InfoNCE and the prototype loss (docs/csc.md §3)."""
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ['superpixel_infonce_loss', 'prototype_loss']


def superpixel_infonce_loss(point_feats: Tensor, pixel_feats: Tensor,
                            temperature: float = 0.07) -> Tensor:
    """L_sp: InfoNCE between superpoints (keys) and superpixels (queries), SLidR / CSC Eq. 2.

    ``L = mean_i -log( exp(k_i . q_i / tau) / sum_j exp(k_i . q_j / tau) )`` over the K
    valid superpixels, positives on the diagonal (the reference's ``NCELoss``). Features are
    used as given: the reference pools L2-normalised per-point / per-pixel features and does
    not renormalise the means.

    Args:
        point_feats (Tensor): (K, C) superpoint features.
        pixel_feats (Tensor): (K, C) superpixel features, row i paired with point row i.
        temperature (float): tau. Defaults to 0.07.

    Returns:
        Tensor: scalar loss. K = 0 gives an exact 0 that keeps the graph (no NaN); K = 1
        gives 0 as well (one candidate is always the right one).

    Raises:
        ValueError: if the shapes differ or ``temperature`` <= 0.
    """
    if point_feats.shape != pixel_feats.shape or point_feats.dim() != 2:
        raise ValueError(f'point_feats and pixel_feats must both be (K, C), got '
                         f'{tuple(point_feats.shape)} and {tuple(pixel_feats.shape)}')
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    if point_feats.shape[0] == 0:
        return (point_feats.sum() + pixel_feats.sum()) * 0.0
    logits = point_feats @ pixel_feats.t() / temperature
    target = torch.arange(point_feats.shape[0], device=point_feats.device)
    return F.cross_entropy(logits, target)


def prototype_loss(point_feats: Tensor, prototypes: Tensor, targets: Tensor,
                   temperature: float = 1.0, ignore_index: int = -1) -> Tensor:
    """L_pro: cross-entropy of superpoint-prototype similarities, CSC Eq. 7.

    ``L = mean_{i: y_i valid} -log softmax_t(k_i . p_t / tau)[y_i]`` with ``p`` the mixed
    (MMPB) prototypes and ``y_i`` the semantic class of superpixel i.

    Args:
        point_feats (Tensor): (K, C) superpoint features.
        prototypes (Tensor): (T, C) mixed prototypes, row t for class t.
        targets (Tensor): (K,) int64 class of each superpoint; ``ignore_index`` (or any value
            outside ``[0, T)``) is left out.
        temperature (float): tau. Defaults to 1.0 (the reference's ``ClusterLoss``).
        ignore_index (int): label to skip. Defaults to -1.

    Returns:
        Tensor: scalar loss; an exact 0 keeping the graph when no target is valid.

    Raises:
        ValueError: on shape mismatches or ``temperature`` <= 0.
    """
    if point_feats.dim() != 2 or prototypes.dim() != 2 or \
            point_feats.shape[1] != prototypes.shape[1] or \
            targets.shape != (point_feats.shape[0],):
        raise ValueError(f'expected point_feats (K, C), prototypes (T, C), targets (K,); got '
                         f'{tuple(point_feats.shape)}, {tuple(prototypes.shape)}, '
                         f'{tuple(targets.shape)}')
    if temperature <= 0:
        raise ValueError(f'temperature must be > 0, got {temperature}')
    keep = (targets != ignore_index) & (targets >= 0) & (targets < prototypes.shape[0])
    if not bool(keep.any()):
        return (point_feats.sum() + prototypes.sum()) * 0.0
    logits = point_feats[keep] @ prototypes.t() / temperature
    return F.cross_entropy(logits, targets[keep].long())
