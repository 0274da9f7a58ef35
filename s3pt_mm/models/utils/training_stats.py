"""Scalars logged during pre-training (TensorBoard): entropy, cluster and κ statistics."""
from typing import Dict

import torch
from torch import Tensor


@torch.no_grad()
def mean_entropy(probs: Tensor) -> Tensor:
    """Mean Shannon entropy ``−Σ_k p_k log p_k`` of the rows of ``probs``.

    Args:
        probs (Tensor): (N, P) probabilities.

    Returns:
        Tensor: () fp32 mean entropy in nats (0 for N = 0).
    """
    if probs.numel() == 0:
        return probs.new_zeros((), dtype=torch.float32)
    probs = probs.float()
    return -(probs * probs.clamp_min(1e-30).log()).sum(-1).mean()


@torch.no_grad()
def cluster_statistics(assignment: Tensor, num_clusters: int) -> Dict[str, Tensor]:
    """Number of non-empty clusters and mean size of a non-empty cluster, per image.

    Args:
        assignment (Tensor): (B, n) cluster index of every token.
        num_clusters (int): k.

    Returns:
        Dict[str, Tensor]: ``num_clusters`` (mean over images of the non-empty cluster count)
        and ``mean_cluster_size`` (mean over images of n / that count).
    """
    counts = torch.zeros(assignment.shape[0], num_clusters, device=assignment.device)
    counts.scatter_add_(1, assignment, torch.ones_like(assignment, dtype=counts.dtype))
    nonempty = (counts > 0).sum(1).float()
    return dict(num_clusters=nonempty.mean(),
                mean_cluster_size=(assignment.shape[1] / nonempty).mean())


@torch.no_grad()
def kappa_statistics(prototype_norms: Tensor, temp: float) -> Dict[str, Tensor]:
    """Concentrations κ_k = ‖w_k‖ / τ of the vMF components (docs/method.md §3).

    Args:
        prototype_norms (Tensor): (P,) norms of the last layer's prototypes.
        temp (float): the temperature τ they are divided by.

    Returns:
        Dict[str, Tensor]: ``kappa_mean``, ``kappa_min``, ``kappa_max``.
    """
    kappa = prototype_norms.float() / temp
    return dict(kappa_mean=kappa.mean(), kappa_min=kappa.min(), kappa_max=kappa.max())
