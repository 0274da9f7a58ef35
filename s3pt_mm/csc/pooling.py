"""Superpixel / superpoint average pooling (docs/csc.md §2).

Superpixel k of image i gets the global id ``i * S + k`` where ``S = max id + 1`` over the
batch (the reference's layout). Its 2D feature is the mean of the pixel features over *all*
its pixels; its 3D feature the mean of the point features of the points paired with one of
its pixels. Only superpixels with at least one paired point are kept ("valid").
"""
from typing import NamedTuple, Optional

import torch
from torch import Tensor

__all__ = ['PooledSuperpixels', 'pool_superpixels', 'superpixel_majority_class']


class PooledSuperpixels(NamedTuple):
    """Output of :func:`pool_superpixels`.

    Attributes:
        point_feats (Tensor): (K, C) superpoint features of the valid superpixels.
        pixel_feats (Tensor): (K, C) superpixel features of the valid superpixels.
        index (Tensor): (K,) int64 global superpixel id (``image * S + id``) of each row.
        num_superpixels (int): S, ids per image.
        all_pixel_feats (Tensor): (B * S, C) features of every superpixel id (0 when empty).
        pixel_count (Tensor): (B * S,) pixels per superpixel id.
    """

    point_feats: Tensor
    pixel_feats: Tensor
    index: Tensor
    num_superpixels: int
    all_pixel_feats: Tensor
    pixel_count: Tensor


def pool_superpixels(point_feats: Tensor, pixel_feats: Tensor, superpixels: Tensor,
                     pairing_points: Tensor, pairing_images: Tensor,
                     num_superpixels: Optional[int] = None) -> PooledSuperpixels:
    """Average point and pixel features inside every superpixel.

    Args:
        point_feats (Tensor): (N, C) per-point features (all points of the batch).
        pixel_feats (Tensor): (B, C, H, W) per-pixel features of the B images.
        superpixels (Tensor): (B, H, W) int superpixel id of every pixel, >= 0.
        pairing_points (Tensor): (M,) int64 index into ``point_feats`` of each pair.
        pairing_images (Tensor): (M, 3) int64 ``(image, row, col)`` of each pair.
        num_superpixels (Optional[int]): S; None = ``superpixels.max() + 1``.

    Returns:
        PooledSuperpixels: pooled features of the K valid superpixels (K = 0 when no point
        is paired: empty (0, C) tensors, not NaN).

    Raises:
        ValueError: on shape mismatches or negative / too large superpixel ids.
    """
    if pixel_feats.dim() != 4 or superpixels.shape != (pixel_feats.shape[0],
                                                       *pixel_feats.shape[2:]):
        raise ValueError(f'superpixels must be (B, H, W) matching pixel_feats (B, C, H, W); '
                         f'got {tuple(superpixels.shape)} and {tuple(pixel_feats.shape)}')
    if pairing_images.dim() != 2 or pairing_images.shape[1] != 3 or \
            pairing_images.shape[0] != pairing_points.shape[0]:
        raise ValueError(f'pairing_images must be (M, 3) with M = len(pairing_points); got '
                         f'{tuple(pairing_images.shape)} and {tuple(pairing_points.shape)}')
    num_images, channels = pixel_feats.shape[:2]
    superpixels = superpixels.long()
    if superpixels.numel() and int(superpixels.min()) < 0:
        raise ValueError('superpixel ids must be >= 0')
    size = int(superpixels.max()) + 1 if num_superpixels is None else int(num_superpixels)
    if superpixels.numel() and int(superpixels.max()) >= size:
        raise ValueError(f'superpixel id {int(superpixels.max())} >= num_superpixels {size}')
    offset = torch.arange(num_images, device=superpixels.device)[:, None, None] * size
    global_ids = (superpixels + offset).reshape(-1)  # (B*H*W,)
    total = num_images * size
    flat_pix = pixel_feats.permute(0, 2, 3, 1).reshape(-1, channels)
    pixel_sum = flat_pix.new_zeros(total, channels).index_add_(0, global_ids, flat_pix)
    pixel_count = torch.bincount(global_ids, minlength=total)
    pixel_mean = pixel_sum / pixel_count.clamp(min=1)[:, None].to(pixel_sum.dtype)

    img, row, col = pairing_images.long().unbind(1)
    pair_ids = global_ids.view(num_images, *superpixels.shape[1:])[img, row, col]
    paired = point_feats[pairing_points.long()]
    point_sum = paired.new_zeros(total, channels).index_add_(0, pair_ids, paired)
    point_count = torch.bincount(pair_ids, minlength=total)
    valid = torch.nonzero(point_count > 0).squeeze(1)
    point_mean = point_sum[valid] / point_count[valid, None].to(point_sum.dtype)
    return PooledSuperpixels(point_feats=point_mean, pixel_feats=pixel_mean[valid],
                             index=valid, num_superpixels=size, all_pixel_feats=pixel_mean,
                             pixel_count=pixel_count)


def superpixel_majority_class(superpixels: Tensor, semantic: Tensor, num_superpixels: int,
                              num_classes: int, ignore_index: int = -1) -> Tensor:
    """Most frequent class of every superpixel (the reference's per-superpixel argmax).

    Args:
        superpixels (Tensor): (B, H, W) superpixel ids in ``[0, num_superpixels)``.
        semantic (Tensor): (B, H, W) class ids; values outside ``[0, num_classes)`` are not
            counted.
        num_superpixels (int): S.
        num_classes (int): number of classes.
        ignore_index (int): class given to superpixels without any counted pixel (and to
            empty ids). Defaults to -1.

    Returns:
        Tensor: (B * S,) int64 class of every global superpixel id; ties go to the lowest
        class id (``argmax``'s first maximum).
    """
    num_images = superpixels.shape[0]
    offset = torch.arange(num_images, device=superpixels.device)[:, None, None] * num_superpixels
    ids = (superpixels.long() + offset).reshape(-1)
    cls = semantic.long().reshape(-1)
    ok = (cls >= 0) & (cls < num_classes)
    hist = torch.bincount(ids[ok] * num_classes + cls[ok],
                          minlength=num_images * num_superpixels * num_classes)
    hist = hist.view(num_images * num_superpixels, num_classes)
    out = hist.argmax(dim=1)
    out[hist.sum(dim=1) == 0] = ignore_index
    return out
