"""Running center of the teacher outputs (DINO's centering state), distributed-safe."""
from typing import Tuple

import torch
import torch.distributed as dist
from torch import Tensor, nn


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


@torch.no_grad()
def global_batch_sum(rows: Tensor) -> Tuple[Tensor, Tensor]:
    """Sum the rows of a batch over all ranks, together with the global row count.

    One all-reduce of ``[sum, count]`` (a single collective), so ranks may hold different
    numbers of rows (e.g. different numbers of valid object tokens). Without an initialised
    process group (or with one process) the local sum is returned.

    Args:
        rows (Tensor): (N, P) this rank's rows; N may be 0.

    Returns:
        Tuple[Tensor, Tensor]: (P,) fp32 sum over all rows of all ranks, and the () fp32 total
        number of rows.
    """
    if rows.dim() != 2:
        raise ValueError(f'rows must be (N, P), got shape {tuple(rows.shape)}')
    rows = rows.float()
    packed = torch.cat([rows.sum(dim=0), rows.new_tensor([rows.shape[0]])])
    if _is_distributed():
        dist.all_reduce(packed)
    return packed[:-1], packed[-1]


class Center(nn.Module):
    """Exponential moving average of the per-prototype batch mean of a teacher statistic.

    ``c ← m·c + (1 − m)·mean_batch(x)`` (DINO, Caron et al. 2021, Eq. 4), where the mean runs
    over the rows of **all** ranks (all-reduced when a process group is initialised, local
    otherwise). What ``x`` is — raw teacher logits (logit centering) or teacher probabilities
    (probability centering, docs/method.md §3.2) — is the caller's choice; this module only
    holds the state.

    The center is a registered buffer, so it is saved in checkpoints and restored on resume.
    ``update`` is a collective when distributed: every rank must call it the same number of
    times, even with zero rows.

    Args:
        num_channels (int): P, the number of prototypes.
        init_value (float): initial value of every entry (0 for logit centering, 1/P for
            probability centering). Defaults to 0.
        momentum (float): m in [0, 1]. Defaults to 0.9.
    """

    def __init__(self, num_channels: int, init_value: float = 0.0, momentum: float = 0.9) -> None:
        super().__init__()
        if num_channels < 1:
            raise ValueError(f'num_channels must be >= 1, got {num_channels}')
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f'momentum must lie in [0, 1], got {momentum}')
        self.momentum = momentum
        self.register_buffer('value', torch.full((1, num_channels), float(init_value)))

    @torch.no_grad()
    def update(self, rows: Tensor) -> None:
        """Fold the global batch mean of ``rows`` into the center.

        Args:
            rows (Tensor): (N, P) teacher statistic of this rank's batch (N may be 0). When no
                rank has a row the center is left unchanged.
        """
        if rows.dim() != 2 or rows.shape[1] != self.value.shape[1]:
            raise ValueError(f'rows must be (N, {self.value.shape[1]}), '
                             f'got shape {tuple(rows.shape)}')
        total, count = global_batch_sum(rows)
        batch_mean = (total / count.clamp_min(1.0)).to(self.value.dtype).unsqueeze(0)
        updated = self.momentum * self.value + (1.0 - self.momentum) * batch_mean
        # torch.where instead of `if count == 0`: no host-device sync on the training path.
        self.value.copy_(torch.where(count > 0, updated, self.value))

    def extra_repr(self) -> str:
        return f'num_channels={self.value.shape[1]}, momentum={self.momentum}'
