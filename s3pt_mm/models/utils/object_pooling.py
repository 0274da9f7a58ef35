"""Object tokens: per-view mean of the tokens assigned to each spatial cluster
(docs/method.md §6.1)."""
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def pool_object_tokens(tokens: Tensor, assignment: Tensor,
                       num_clusters: int) -> Tuple[Tensor, Tensor]:
    """Average the tokens of each cluster in each view (CrIBo's object tokens).

    The object token of cluster j in view v is the mean of the **un-normalised** last-layer
    tokens of view v assigned to j (docs/method.md §6.1). The teacher's hard assignment is used
    for the teacher *and* the student tokens. A cluster is kept only if it is non-empty in every
    view, otherwise the two views would not describe the same object.

    Computed as a one-hot matmul (deterministic, unlike a scatter-add with atomics) in fp32 with
    autocast disabled, so sums of ~200 fp16 tokens cannot lose precision; gradients flow to
    ``tokens``.

    Args:
        tokens (Tensor): (B, V, N, D) last-layer patch tokens of each view (no CLS token).
        assignment (Tensor): (B, V, N) integer cluster index in ``[0, num_clusters)`` of every
            token, shared by the two views of an image (clustering runs over both views).
        num_clusters (int): k, the number of clusters.

    Returns:
        Tuple[Tensor, Tensor]:
            - means (B, V, k, D) in ``tokens.dtype``: per-view cluster means; a cluster empty in
              view v has an all-zero row there.
            - valid (B, k) bool: cluster non-empty in **all** views.

    Raises:
        ValueError: on shape mismatch, non-integer assignment or an index outside
            ``[0, num_clusters)``.
    """
    if tokens.dim() != 4:
        raise ValueError(f'tokens must be (B, V, N, D), got shape {tuple(tokens.shape)}')
    if assignment.shape != tokens.shape[:3]:
        raise ValueError(f'assignment must be (B, V, N) = {tuple(tokens.shape[:3])}, '
                         f'got {tuple(assignment.shape)}')
    if assignment.dtype.is_floating_point or assignment.dtype == torch.bool:
        raise ValueError(f'assignment must hold integer cluster indices, got {assignment.dtype}')
    if num_clusters < 1:
        raise ValueError(f'num_clusters must be >= 1, got {num_clusters}')
    if assignment.numel() > 0:
        low, high = int(assignment.min()), int(assignment.max())
        if low < 0 or high >= num_clusters:
            raise ValueError(f'assignment values must lie in [0, {num_clusters}), '
                             f'got min {low}, max {high}')

    with torch.autocast(device_type=tokens.device.type, enabled=False):
        # b = image, v = view, n = token, k = cluster, d = channel
        one_hot = F.one_hot(assignment.long(), num_clusters).float()  # (B, V, N, k)
        sums = torch.einsum('bvnk,bvnd->bvkd', one_hot, tokens.float())
        counts = one_hot.sum(dim=2)  # (B, V, k)
        means = sums / counts.clamp_min(1.0).unsqueeze(-1)
    valid = (counts > 0).all(dim=1)
    return means.to(tokens.dtype), valid
