"""Temperature-scaled prototype logits, plain (DINO) or vMF-normalised (docs/method.md §3)."""
from typing import Optional

import torch
from torch import Tensor

from s3pt_mm.models.utils.vmf import log_vmf_normalizer


def prototype_logits(logits: Tensor, prototype_norms: Tensor, temp: float,
                     vmf_dim: Optional[int] = None) -> Tensor:
    """Logits of the prototype softmax at temperature τ.

    - Plain (DINO, Caron et al. 2021): ``logit_k(τ) = l_k / τ``.
    - vMF (Govindarajan et al., "DINO as a von Mises-Fisher mixture model", ICLR 2023;
      docs/method.md §3.1): ``logit_k(τ) = l_k / τ + log C_p(κ_k)`` with
      ``κ_k = ‖w_k‖ / τ``, so that each prototype is a normalised vMF component whose
      concentration is learnt through the weight-norm gain ‖w_k‖ = g_k.

    Here ``l_k = ⟨w_k, y⟩`` is the last layer's output on the unit bottleneck vector y.
    Computed in fp32 (the log-normaliser is large, and the result feeds a softmax).

    Args:
        logits (Tensor): (N, P) last-layer outputs l.
        prototype_norms (Tensor): (P,) ‖w_k‖ of the last layer's rows (ignored when plain).
        temp (float): τ > 0.
        vmf_dim (int, optional): p, the bottleneck dimension, to add ``log C_p``; None for
            plain DINO logits. Defaults to None.

    Returns:
        Tensor: (N, P) fp32 logits.

    Raises:
        ValueError: if ``temp <= 0`` or the shapes do not match.
    """
    if temp <= 0:
        raise ValueError(f'temperature must be > 0, got {temp}')
    scaled = logits.float() / temp
    if vmf_dim is None:
        return scaled
    if prototype_norms.shape != logits.shape[-1:]:
        raise ValueError(f'prototype_norms must be ({logits.shape[-1]},), '
                         f'got {tuple(prototype_norms.shape)}')
    return scaled + log_vmf_normalizer(prototype_norms.float() / temp, vmf_dim)


def logit_centered_target(logits: Tensor, center: Tensor, temp: float) -> Tensor:
    """DINO's teacher target with logit centering: ``softmax((l − c) / τ_t)``.

    Args:
        logits (Tensor): (N, P) raw teacher last-layer outputs l (no temperature).
        center (Tensor): (1, P) running mean of l.
        temp (float): teacher temperature τ_t > 0.

    Returns:
        Tensor: (N, P) fp32 probabilities.
    """
    if temp <= 0:
        raise ValueError(f'temperature must be > 0, got {temp}')
    return torch.softmax((logits.float() - center.float()) / temp, dim=-1)


def probability_centered_target(tempered_logits: Tensor, center: Tensor) -> Tensor:
    """vMF-DINO's teacher target with probability centering: ``softmax(z − log c)``.

    Equivalent to ``softmax(z) / c`` renormalised. ``c`` is clamped to the smallest positive
    fp32 number before the log: a prototype the teacher never selects has c → 0 (it decays
    by 0.9 per step), which must give a large but finite boost, not ``+inf`` and NaN.

    Args:
        tempered_logits (Tensor): (N, P) teacher logits z = logit(τ_t) (temperature applied).
        center (Tensor): (1, P) running mean of ``softmax(z)``.

    Returns:
        Tensor: (N, P) fp32 probabilities.
    """
    log_center = center.float().clamp_min(torch.finfo(torch.float32).tiny).log()
    return torch.softmax(tempered_logits.float() - log_center, dim=-1)
