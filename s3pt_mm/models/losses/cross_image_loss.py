"""CrIBo's cross-image object loss on cycle-consistent queue neighbours."""
import torch
from torch import Tensor

from .soft_cross_entropy import soft_cross_entropy, zero_loss_like


#: How :func:`cross_image_loss` normalises the sum over pairs (its ``normalization``).
NN_LOSS_NORMALIZATIONS = ('pooled', 'first_direction')


def cross_image_loss(neighbour_probs: Tensor, student_log_probs: Tensor, consistent: Tensor,
                     normalization: str = 'pooled', reduction: str = 'mean') -> Tensor:
    """Cross-entropy between queue neighbours and the other view's student objects.

    Direction v: the teacher target is the projected queue neighbour of object m's view-v token
    (``neighbour_probs[v, m]``), the prediction is the student's object m in the other view
    w = (v + 1) mod V (``student_log_probs[w, m]``); only cycle-consistent pairs count (CrIBo,
    Lebailly et al. 2024, Eq. 6; docs/method.md §6.2). With ``S`` the sum of
    ``H(neighbour_probs[v, m], student_log_probs[w, m])`` over the consistent pairs (v, m):

    - ``normalization='pooled'`` (ours): ``L = S / |C|``, C the consistent pairs of all
      directions pooled;
    - ``normalization='first_direction'`` (CrIBo's ``CrIBoLoss``): ``L = S / (V · |C_0|)``,
      C_0 the consistent pairs of the first direction; 0 when ``|C_0| = 0`` even if other
      directions have pairs. Both agree when every direction keeps as many pairs.

    Args:
        neighbour_probs (Tensor): (V, M, P) teacher targets of the retrieved neighbours (object
            head, object center from before this step's update).
        student_log_probs (Tensor): (V, M, P) student object log-probabilities.
        consistent (Tensor): (V, M) bool cycle-consistency mask.
        normalization (str): ``'pooled'`` or ``'first_direction'``. Defaults to ``'pooled'``.
        reduction (str): ``'mean'`` (the normalised loss above) or ``'sum'`` (S, for callers
            that normalise with counts over all processes). Defaults to ``'mean'``.

    Returns:
        Tensor: () fp32 loss; a graph-connected zero when no pair counts.

    Raises:
        ValueError: on mismatching shapes or an unknown normalization / reduction.
    """
    if neighbour_probs.shape != student_log_probs.shape or neighbour_probs.dim() != 3:
        raise ValueError(f'neighbour_probs and student_log_probs must both be (V, M, P), got '
                         f'{tuple(neighbour_probs.shape)} and {tuple(student_log_probs.shape)}')
    if consistent.shape != neighbour_probs.shape[:2]:
        raise ValueError(f'consistent must be (V, M) = {tuple(neighbour_probs.shape[:2])}, '
                         f'got {tuple(consistent.shape)}')
    if normalization not in NN_LOSS_NORMALIZATIONS:
        raise ValueError(f'normalization must be one of {NN_LOSS_NORMALIZATIONS}, got '
                         f'{normalization!r}')
    if reduction not in ('mean', 'sum'):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if consistent.numel() == 0:
        return zero_loss_like(student_log_probs)
    # w = (v + 1) mod V: roll the student views by one so row v holds view v + 1.
    other_view = student_log_probs.roll(shifts=-1, dims=0)
    losses = soft_cross_entropy(neighbour_probs, other_view)  # (V, M)
    mask = consistent.to(losses.dtype)
    total = (losses * mask).sum()
    if reduction == 'sum':
        return total
    # Masked mean without a host sync; an empty mask gives 0 · (graph) / 1.
    if normalization == 'pooled':
        return total / mask.sum().clamp_min(1.0)
    first = mask[0].sum()
    return torch.where(first > 0, total, total * 0.0) / (mask.shape[0] * first.clamp_min(1.0))
