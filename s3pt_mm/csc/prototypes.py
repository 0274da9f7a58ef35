"""Cross-scene class prototypes: per-class means of superpixel / superpoint features.

CSC rebuilds its 2D and 3D prototypes once per epoch by a no-grad pass over the training
set (docs/csc.md §4): prototype ``t`` is the mean feature of every valid (paired)
superpixel of class ``t``; a class never seen keeps a zero prototype.
"""
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['class_sums', 'PrototypeAccumulator']

_SYNC_MODES = ('weighted', 'rank_mean')


def class_sums(feats: Tensor, classes: Tensor, num_classes: int) -> Tuple[Tensor, Tensor]:
    """Per-class feature sums and counts.

    Args:
        feats (Tensor): (K, C) features.
        classes (Tensor): (K,) int class ids; ids outside ``[0, num_classes)`` are skipped.
        num_classes (int): T.

    Returns:
        Tuple[Tensor, Tensor]: (T, C) float64 sums and (T,) float64 counts.
    """
    keep = (classes >= 0) & (classes < num_classes)
    sums = torch.zeros(num_classes, feats.shape[1], dtype=torch.float64, device=feats.device)
    sums.index_add_(0, classes[keep].long(), feats[keep].detach().double())
    counts = torch.bincount(classes[keep].long(), minlength=num_classes).double()
    return sums, counts


class PrototypeAccumulator:
    """Accumulate per-class sums over an epoch, then turn them into prototypes.

    Args:
        num_classes (int): T, number of prototypes.
        channels (int): C.
        sync (str): how processes are combined. ``'weighted'`` (default): all-reduce the
            sums and counts, so the result equals one process seeing all the data.
            ``'rank_mean'``: the reference's ``all_gather`` then plain mean of the per-rank
            prototypes (a class missing on a rank enters as a zero row).
    """

    def __init__(self, num_classes: int, channels: int, sync: str = 'weighted') -> None:
        if sync not in _SYNC_MODES:
            raise ValueError(f'sync must be one of {_SYNC_MODES}, got {sync!r}')
        self.num_classes, self.channels, self.sync = num_classes, channels, sync
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        shape = (self.num_classes, self.channels)
        self.sums = {m: torch.zeros(shape, dtype=torch.float64) for m in ('2d', '3d')}
        self.counts = {m: torch.zeros(self.num_classes, dtype=torch.float64)
                       for m in ('2d', '3d')}

    @torch.no_grad()
    def update(self, pixel_feats: Tensor, point_feats: Tensor, classes: Tensor) -> None:
        """Add one batch of valid superpixels.

        Args:
            pixel_feats (Tensor): (K, C) superpixel features.
            point_feats (Tensor): (K, C) superpoint features.
            classes (Tensor): (K,) class of each superpixel (-1 / out of range = skipped).
        """
        for key, feats in (('2d', pixel_feats), ('3d', point_feats)):
            sums, counts = class_sums(feats, classes, self.num_classes)
            self.sums[key] += sums.cpu()
            self.counts[key] += counts.cpu()

    @torch.no_grad()
    def compute(self, device: Optional[torch.device] = None) -> Tuple[Tensor, Tensor]:
        """Prototypes from what was accumulated, combined over processes when distributed.

        Returns:
            Tuple[Tensor, Tensor]: (T, C) float32 pixel (2D) and point (3D) prototypes;
            row t is the mean over class t (zero when class t was never seen).
        """
        distributed = dist.is_available() and dist.is_initialized() and \
            dist.get_world_size() > 1
        out = []
        for key in ('2d', '3d'):
            sums, counts = self.sums[key].clone(), self.counts[key].clone()
            if distributed and self.sync == 'weighted':
                dist.all_reduce(sums)
                dist.all_reduce(counts)
            proto = sums / counts.clamp(min=1)[:, None]
            if distributed and self.sync == 'rank_mean':
                dist.all_reduce(proto)
                proto /= dist.get_world_size()
            out.append(proto.float().to(device) if device is not None else proto.float())
        return out[0], out[1]
