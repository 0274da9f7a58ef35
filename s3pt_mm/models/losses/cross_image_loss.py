"""CrIBo's cross-image object loss on cycle-consistent queue neighbours."""
from torch import Tensor

from .soft_cross_entropy import soft_cross_entropy, zero_loss_like


def cross_image_loss(neighbour_probs: Tensor, student_log_probs: Tensor,
                     consistent: Tensor) -> Tensor:
    """Mean cross-entropy between queue neighbours and the other view's student objects.

    Direction v: the teacher target is the projected queue neighbour of object m's view-v token
    (``neighbour_probs[v, m]``), the prediction is the student's object m in the other view
    w = (v + 1) mod V (``student_log_probs[w, m]``); only cycle-consistent pairs count (CrIBo,
    Lebailly et al. 2024, Eq. 6; spec §6):

    ``L = 1/|C| · Σ_{(v, m) ∈ C} H(neighbour_probs[v, m], student_log_probs[w, m])``,

    C = the cycle-consistent (direction, object) pairs of both directions pooled. (CrIBo
    divides each direction by the first direction's count and halves the sum; pooling gives
    the same value when both directions keep as many pairs and never divides by an empty
    count.)

    Args:
        neighbour_probs (Tensor): (V, M, P) teacher targets of the retrieved neighbours (object
            head, object center, not used to update the center).
        student_log_probs (Tensor): (V, M, P) student object log-probabilities.
        consistent (Tensor): (V, M) bool cycle-consistency mask.

    Returns:
        Tensor: () fp32 loss; a graph-connected zero when no pair is consistent.

    Raises:
        ValueError: on mismatching shapes.
    """
    if neighbour_probs.shape != student_log_probs.shape or neighbour_probs.dim() != 3:
        raise ValueError(f'neighbour_probs and student_log_probs must both be (V, M, P), got '
                         f'{tuple(neighbour_probs.shape)} and {tuple(student_log_probs.shape)}')
    if consistent.shape != neighbour_probs.shape[:2]:
        raise ValueError(f'consistent must be (V, M) = {tuple(neighbour_probs.shape[:2])}, '
                         f'got {tuple(consistent.shape)}')
    # w = (v + 1) mod V: roll the student views by one so row v holds view v + 1.
    other_view = student_log_probs.roll(shifts=-1, dims=0)
    losses = soft_cross_entropy(neighbour_probs, other_view)  # (V, M)
    mask = consistent.to(losses.dtype)
    count = mask.sum()
    if consistent.numel() == 0:
        return zero_loss_like(student_log_probs)
    # Masked mean without a host sync; an empty mask gives 0 · (graph) / 1.
    return (losses * mask).sum() / count.clamp_min(1.0)
