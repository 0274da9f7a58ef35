"""The project's one Sinkhorn-Knopp: balanced soft assignment of rows (tokens or samples) to
columns (clusters or prototypes), batched, fp32, and safe with or without torch.distributed."""
import math
from typing import Optional

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = ['sinkhorn_knopp', 'SINKHORN_ORDERS']

#: Orders of the two scaling steps inside one Sinkhorn round (``sinkhorn_knopp(order=...)``).
SINKHORN_ORDERS = ('row_first', 'column_first')


def _is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sinkhorn_knopp(scores: Tensor,
                   num_iters: int = 3,
                   row_marginal: Optional[Tensor] = None,
                   col_marginal: Optional[Tensor] = None,
                   distributed: bool = True,
                   order: str = 'row_first') -> Tensor:
    """Scale ``exp(scores)`` to a transport plan with row sums ``r`` and column sums ``c``.

    Sinkhorn & Knopp (1967); Cuturi, "Sinkhorn distances", NeurIPS 2013; used with a
    non-uniform ``c`` by CrIBo's spatial clustering (docs/method.md §5), with kernel
    ``Q = exp(scores)``. Computed in the log domain (scalings ``f_i``, ``g_j`` with
    ``P = exp(scores + f_i + g_j)``): the same numbers as rescaling ``Q``, but no score range can
    overflow or underflow a whole row or column. The initial normalisation of ``Q`` to total
    mass 1 that CrIBo's code does first is a common factor the first scaling step absorbs.

    Order of the updates (written as scalings of Q), each of the ``num_iters`` rounds
    (docs/method.md §5.3):

    - ``order='row_first'`` (default; CrIBo's ``Clustering.sinkhorn``):
      1. row step:    ``Q[i, :] *= r_i / Σ_j Q[i, j]``;
      2. column step: ``Q[:, j] *= c_j / Σ_i Q[i, j]``.
      The returned plan's column sums equal ``c`` (to rounding); its row sums approach ``r``
      as ``num_iters`` grows.
    - ``order='column_first'`` (DINOv2/SwAV's order in a rows = samples layout): the column
      step, then the row step; the returned row sums equal ``r``. With the single round S3PT
      uses, the two orders give very different plans (and argmaxes).

    Distributed use: rows may be spread over processes (the DINO/SwAV case: each GPU holds its
    own samples of one global problem). With ``distributed=True`` and an initialised process
    group of size > 1, the column sums (a max and a sum for the log-sum-exp) and, for the
    default ``r``, the row count are all-reduced, so every rank computes its rows of the
    *global* plan. Row sums are always local. With ``distributed=False`` — or when
    torch.distributed is not initialised, e.g. single-process training and tests — nothing is
    communicated. Use ``distributed=False`` whenever the problems are independent per process,
    as in the spatial clustering where each image is its own problem (B independent plans).

    Args:
        scores (Tensor): log-kernel, e.g. ``−λ·M`` for a cost M or ``logits/τ``; shape (n, k)
            or (B, n, k) for B independent problems (with ``distributed=True``, problem b is
            shared by all ranks); every row and column needs a finite entry. Computed in
            float32 (float64 inputs stay float64), autocast disabled.
        num_iters (int): number of rounds (one row and one column step each), ≥ 1. Defaults
            to 3.
        row_marginal (Tensor, optional): ``r``, shape (n,) or (B, n), non-negative. Defaults to
            uniform ``1/n_total`` with ``n_total`` the row count summed over ranks.
        col_marginal (Tensor, optional): ``c``, shape (k,) or (B, k), non-negative, with the
            same total mass as ``r`` (1 by default) — Sinkhorn does not converge otherwise.
            Defaults to uniform ``1/k``.
        distributed (bool): all-reduce over the default process group when one is
            initialised (see above). Defaults to True.
        order (str): ``'row_first'`` (CrIBo) or ``'column_first'``. Defaults to
            ``'row_first'``.

    Returns:
        Tensor: the plan ``P``, same shape as ``scores``, float32 (float64 for float64 input);
        ``P.sum(-2) == c`` (row first) or ``P.sum(-1) == r`` (column first).

    Raises:
        ValueError: for a scores tensor that is not 2-D/3-D floating point, ``num_iters`` < 1, or
            marginals whose shape does not match, or an unknown ``order``.
    """
    if scores.dim() not in (2, 3) or not scores.is_floating_point():
        raise ValueError(f'sinkhorn_knopp: scores must be a floating (n, k) or (B, n, k) tensor, '
                         f'got shape {tuple(scores.shape)} and dtype {scores.dtype}')
    if isinstance(num_iters, bool) or not isinstance(num_iters, int) or num_iters < 1:
        raise ValueError(f'sinkhorn_knopp: num_iters must be an integer >= 1, got {num_iters!r}')
    if order not in SINKHORN_ORDERS:
        raise ValueError(f'sinkhorn_knopp: order must be one of {SINKHORN_ORDERS}, got {order!r}')
    unbatched = scores.dim() == 2
    batch, num_rows, num_cols = (1, *scores.shape) if unbatched else scores.shape
    reduce = distributed and _is_distributed()
    compute_dtype = torch.promote_types(scores.dtype, torch.float32)

    def as_batched(marginal: Tensor, size: int, name: str) -> Tensor:
        if marginal.shape not in ((size, ), (batch, size)) or (unbatched and marginal.dim() != 1):
            expected = f'({size},)' if unbatched else f'({size},) or ({batch}, {size})'
            raise ValueError(f'sinkhorn_knopp: {name} must have shape {expected} for scores of '
                             f'shape {tuple(scores.shape)}, got {tuple(marginal.shape)}')
        return marginal.to(device=scores.device, dtype=compute_dtype).expand(batch, size)

    with torch.autocast(device_type=scores.device.type, enabled=False):
        s = scores.to(compute_dtype).reshape(batch, num_rows, num_cols)
        if row_marginal is None:
            total_rows = torch.tensor(float(num_rows), device=s.device, dtype=compute_dtype)
            if reduce:
                dist.all_reduce(total_rows)
            log_r = (-torch.log(total_rows)).expand(batch, num_rows)
        else:
            log_r = torch.log(as_batched(row_marginal, num_rows, 'row_marginal'))
        if col_marginal is None:
            log_c = torch.full((batch, num_cols), -math.log(num_cols), device=s.device,
                               dtype=compute_dtype)
        else:
            log_c = torch.log(as_batched(col_marginal, num_cols, 'col_marginal'))

        # Log-domain scalings: P = exp(s + f_i + g_j). Identical to multiplying rows and
        # columns of exp(s), but no exp of a raw score, so any score range is safe (logits/τ
        # with a learnable prototype norm can span hundreds).
        f = torch.zeros_like(log_r).unsqueeze(2)  # (B, n, 1) row log-scalings
        g = torch.zeros_like(log_c)  # (B, k) column log-scalings
        for _ in range(num_iters):
            if order == 'row_first':
                f = (log_r - torch.logsumexp(s + g.unsqueeze(1), dim=2)).unsqueeze(2)  # rows
                g = log_c - _column_logsumexp(s + f, reduce)  # columns sum to c
            else:
                g = log_c - _column_logsumexp(s + f, reduce)  # columns sum to c
                f = (log_r - torch.logsumexp(s + g.unsqueeze(1), dim=2)).unsqueeze(2)  # rows
        plan = torch.exp(s + f + g.unsqueeze(1))
    return plan.reshape(scores.shape)


def _column_logsumexp(x: Tensor, reduce: bool) -> Tensor:
    """log Σ_i exp(x[b, i, j]) over the rows of all ranks when ``reduce``: (B, n, k) → (B, k)."""
    peak = x.amax(dim=1)
    if reduce:
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = torch.exp(x - peak.unsqueeze(1)).sum(dim=1)
    if reduce:
        dist.all_reduce(total)
    return peak + torch.log(total)
