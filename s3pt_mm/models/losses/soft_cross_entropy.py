"""Cross-entropy between a teacher distribution and student log-probabilities."""
from torch import Tensor


def soft_cross_entropy(target: Tensor, log_prob: Tensor) -> Tensor:
    """Row-wise cross-entropy ``H(t, s) = −Σ_k t_k · log s_k``.

    The self-distillation objective of DINO (Caron et al. 2021, Eq. 2) and of every S3PT loss
    (docs/method.md §6). Computed in fp32 so that fp16 autocast cannot underflow the products.

    Args:
        target (Tensor): (..., P) teacher probabilities (rows sum to 1; no gradient expected).
        log_prob (Tensor): (..., P) student log-probabilities (``log_softmax`` output).

    Returns:
        Tensor: (...) fp32 cross-entropy of every row.

    Raises:
        ValueError: if the shapes differ.
    """
    if target.shape != log_prob.shape:
        raise ValueError(f'target and log_prob must have the same shape, got '
                         f'{tuple(target.shape)} and {tuple(log_prob.shape)}')
    return -(target.float() * log_prob.float()).sum(dim=-1)


def zero_loss_like(log_prob: Tensor) -> Tensor:
    """A () fp32 zero that stays connected to ``log_prob``'s graph.

    Returned by the losses when there is nothing to average (no valid object, no
    cycle-consistent neighbour): every parameter still receives a (zero) gradient, so
    ``DistributedDataParallel`` does not stall waiting for unused parameters.
    """
    return log_prob.float().sum() * 0.0
