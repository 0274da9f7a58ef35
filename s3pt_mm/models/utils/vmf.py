"""Log-normaliser of the von Mises-Fisher distribution, stable in fp32 from κ = 0 to κ ≈ 1e5+.

The vMF head of S3PT (docs/method.md §3.1, after "DINO as a von Mises-Fisher mixture model",
ICLR 2023) adds ``log C_p(κ_k)`` to every prototype's logit:

    log C_p(κ) = (p/2 − 1)·log κ − (p/2)·log 2π − log I_{p/2−1}(κ)

``I_ν`` overflows fp32 already at κ ≈ 90 and torch only ships the exponentially scaled Bessel
functions of order 0 and 1 (``torch.special.i0e/i1e``), so ``log I_ν`` is evaluated with the
uniform large-order (Debye) expansion, DLMF 10.41.3/10.41.5:

    I_μ(μz) ~ e^{μη} / ((2πμ)^{1/2} (1 + z²)^{1/4}) · Σ_k u_k(t) / μ^k,
    t = 1/√(1 + z²),  η = √(1 + z²) + log(z / (1 + √(1 + z²))).

With ``s = √(μ² + κ²)`` and ``δ = s − μ = κ²/(s + μ)`` the ``μ·log κ`` of ``log C`` cancels
analytically against the one inside ``μη``, leaving

    log C = A + μ·log1p(δ/(2μ)) − δ + ½·log1p(δ/μ) − log Σ_k u_k(μ/s)/μ^k,

where ``A`` depends on the order only (evaluated in float64 in Python). No term is large when
κ is small, and nothing grows faster than κ when κ is large, so fp32 keeps ~7 significant digits
of the result everywhere (finite up to κ ≈ 1e19).

The expansion is uniform in z ∈ [0, ∞) and its error falls like μ^{-K}: with K = 6 terms the
absolute error of ``log I_μ`` is < 2e-8 for μ ≥ 10 (checked against mpmath at 30 digits), far
below fp32 resolution. Orders ν < 10 (dimensions p < 22) are lifted to μ = ν + m ≥ 10 and brought
back with the downward recurrence ``I_{j−1} = I_{j+1} + (2j/κ)·I_j`` — all terms positive, hence
stable — written for ρ_j = κ·I_{j+1}(κ)/I_j(κ) so that κ never appears in a denominator:

    log I_{j−1} − log I_j = log(ρ_j + 2j) − log κ,   ρ_{j−1} = κ² / (ρ_j + 2j),

with ρ_μ = s·Σ v_k/Σ u_k − μ from the expansion of ``I'_μ`` (DLMF 10.41.5, 10.41.12).
The polynomials u_k, v_k are generated exactly (rational arithmetic) from DLMF 10.41.10/10.41.12.
"""
import math
from fractions import Fraction
from typing import List, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ['log_vmf_normalizer']

# Number of terms u_0 … u_{K−1} of the Debye series and the smallest order it is used at
# directly; together they bound the truncation error of log I by 2e-8 (see module docstring).
_NUM_TERMS = 6
_MIN_ORDER = 10.0


def _poly_add(a: Sequence[Fraction], b: Sequence[Fraction]) -> List[Fraction]:
    size = max(len(a), len(b))
    return [(a[i] if i < len(a) else Fraction(0)) + (b[i] if i < len(b) else Fraction(0))
            for i in range(size)]


def _poly_mul(a: Sequence[Fraction], b: Sequence[Fraction]) -> List[Fraction]:
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _poly_derivative(a: Sequence[Fraction]) -> List[Fraction]:
    return [i * a[i] for i in range(1, len(a))] or [Fraction(0)]


def _poly_integral(a: Sequence[Fraction]) -> List[Fraction]:
    return [Fraction(0)] + [c / (i + 1) for i, c in enumerate(a)]


def _debye_polynomials(num_terms: int) -> Tuple[List[List[float]], List[List[float]]]:
    """Coefficients (ascending powers of t) of the Debye polynomials u_k and v_k, k < num_terms.

    DLMF 10.41.10: u_{k+1}(t) = ½t²(1 − t²)·u_k'(t) + ⅛∫_0^t (1 − 5s²)·u_k(s) ds, u_0 = 1;
    DLMF 10.41.12: v_k(t) = u_k(t) + t(t² − 1)·(½u_{k−1}(t) + t·u_{k−1}'(t)), v_0 = 1.
    """
    half_t2_one_minus_t2 = [Fraction(0), Fraction(0), Fraction(1, 2), Fraction(0), Fraction(-1, 2)]
    one_minus_5t2 = [Fraction(1), Fraction(0), Fraction(-5)]
    t_times_t2_minus_1 = [Fraction(0), Fraction(-1), Fraction(0), Fraction(1)]
    u = [[Fraction(1)]]
    for k in range(num_terms - 1):
        derivative_part = _poly_mul(half_t2_one_minus_t2, _poly_derivative(u[k]))
        integral_part = [c / 8 for c in _poly_integral(_poly_mul(one_minus_5t2, u[k]))]
        u.append(_poly_add(derivative_part, integral_part))
    v = [[Fraction(1)]]
    for k in range(1, num_terms):
        inner = _poly_add([c / 2 for c in u[k - 1]],
                          _poly_mul([Fraction(0), Fraction(1)], _poly_derivative(u[k - 1])))
        v.append(_poly_add(u[k], _poly_mul(t_times_t2_minus_1, inner)))
    as_float = lambda polys: [[float(c) for c in p] for p in polys]  # noqa: E731
    return as_float(u), as_float(v)


_U_POLYS, _V_POLYS = _debye_polynomials(_NUM_TERMS)


def _debye_sum(polys: Sequence[Sequence[float]], t: Tensor, order: float) -> Tensor:
    """Σ_k p_k(t)/order^k, each polynomial by Horner's rule."""
    total = torch.ones_like(t)
    for k in range(1, len(polys)):
        value = torch.zeros_like(t)
        for coefficient in reversed(polys[k]):
            value = value * t + coefficient
        total = total + value / order**k
    return total


def log_vmf_normalizer(kappa: Tensor, dim: int) -> Tensor:
    """Log-normaliser ``log C_p(κ)`` of the von Mises-Fisher distribution on the sphere S^{p−1}.

    ``log C_p(κ) = (p/2 − 1)·log κ − (p/2)·log 2π − log I_{p/2−1}(κ)`` (docs/method.md §3.1;
    Mardia & Jupp 2000, eq. 9.3.4), so that ``C_p(κ)·exp(κ·μᵀx)`` integrates to one over the
    unit sphere. ``log I_ν`` uses the uniform (Debye) expansion with a downward recurrence for
    small orders; see the module docstring for the derivation and accuracy. κ → 0 gives the
    finite limit ``log Γ(p/2) − log 2 − (p/2)·log π`` (minus the log-area of the sphere).

    The computation runs in at least fp32 with autocast disabled, so it is safe to call inside an
    fp16/bf16 autocast region; it is differentiable w.r.t. ``kappa`` (the vMF head's learnable
    weight-norm gain enters through κ = ‖w‖/τ).

    Args:
        kappa (Tensor): concentrations κ ≥ 0, any shape (e.g. (P,) for P prototypes), any
            floating dtype. Negative values are not checked (that would synchronise the device)
            and are treated as |κ|.
        dim (int): dimension p ≥ 2 of the ambient space (256 for the S3PT bottleneck).

    Returns:
        Tensor: ``log C_p(κ)``, same shape as ``kappa``, dtype float32 (float64 for a float64
        input). Absolute error vs. the exact value ≲ 1e-6·max(1, |log C_p(κ)|) (fp32 rounding).

    Raises:
        ValueError: if ``dim`` is not an integer ≥ 2 or ``kappa`` is not floating point.
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f'log_vmf_normalizer: dim must be an integer >= 2, got {dim!r}')
    if not kappa.is_floating_point():
        raise ValueError(f'log_vmf_normalizer: kappa must be a floating-point tensor, '
                         f'got dtype {kappa.dtype}')
    nu = dim / 2.0 - 1.0
    num_steps = max(0, math.ceil(_MIN_ORDER - nu))
    mu = nu + num_steps  # the order the Debye expansion is evaluated at
    orders = [mu - step for step in range(num_steps)]  # j = μ, μ−1, …, ν+1
    # The κ-independent part of log C, in float64: −(ν+1)·log 2π − μ + μ·log 2μ + ½·log 2πμ
    # − Σ_j log 2j. The κ-dependent rest is summed first and vanishes as κ → 0, so the large
    # constant is rounded to fp32 only once (differences log C(κ₁) − log C(κ₂) stay accurate).
    constant = (-(nu + 1.0) * math.log(2.0 * math.pi) - mu + mu * math.log(2.0 * mu)
                + 0.5 * math.log(2.0 * math.pi * mu) - sum(math.log(2.0 * j) for j in orders))

    compute_dtype = torch.promote_types(kappa.dtype, torch.float32)
    with torch.autocast(device_type=kappa.device.type, enabled=False):
        k = kappa.to(compute_dtype).abs()
        s = torch.sqrt(k * k + mu * mu)
        delta = k * (k / (s + mu))  # s − μ without cancellation at small κ
        t = mu / s
        u_sum = _debye_sum(_U_POLYS, t, mu)
        varying = (mu * torch.log1p(delta / (2.0 * mu)) - delta + 0.5 * torch.log1p(delta / mu)
                   - torch.log(u_sum))
        if orders:
            # ρ_μ = κ·I_{μ+1}/I_μ; its cancellation at small κ is harmless because only
            # ρ_j + 2j ≥ 2j enters the result.
            rho = s * _debye_sum(_V_POLYS, t, mu) / u_sum - mu
            for j in orders:
                varying = varying - torch.log1p(rho / (2.0 * j))
                rho = k * k / (rho + 2.0 * j)
        log_c = varying + constant
    return log_c
