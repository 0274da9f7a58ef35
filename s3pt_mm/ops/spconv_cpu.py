"""Backward pass of spconv's sparse convolutions for CPU tensors.

spconv 2.3.8's CPU wheel runs sparse convolutions forward on CPU tensors (rule book from
``generate_conv_inds_cpu``, then gather -> matmul -> scatter-add per kernel offset), but its
backward, ``spconv.pytorch.ops.indice_conv_backward``, asks for the current CUDA stream before
it looks at the device, so any ``loss.backward()`` through mmdet3d's ``SparseEncoder`` or a
spconv ``MinkUNetBackbone`` on a machine without a GPU fails with "Found no NVIDIA driver".

:func:`enable_spconv_cpu_backward` replaces that function with a wrapper: CUDA tensors go to
spconv's own kernels unchanged, CPU tensors to :func:`sparse_conv_backward`, a torch
re-derivation from the same rule book. It is applied when ``s3pt_mm`` is imported (a no-op
without spconv) and is idempotent.

The rule book (what spconv's ``get_indice_pairs`` returns): ``indice_pairs`` (2, K, P) int32 and
``indice_pair_num`` (K,) for the K = prod(kernel_size) kernel offsets; for offset k the first
``n_k`` columns pair an input row ``indice_pairs[0, k, j]`` with an output row
``indice_pairs[1, k, j]`` (rows swapped for an inverse convolution). The forward is

    out[o] = sum_k sum_{j: (i, o) = pair_k[j]} W_k . in[i]        (W_k = filters[:, k, :], KRSC)

and a submanifold convolution adds the centre offset as the identity pairing (rows of ``in`` and
``out`` coincide) and stores only the counts of the first half of the offsets (offset k and
K - 1 - k are mirror images with equal counts). Differentiating:

    d in[i]  += W_k^T . d out[o]       d W_k += d out[o] (x) in[i]        for every pair (i, o).
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

__all__ = ['sparse_conv_backward', 'enable_spconv_cpu_backward', 'spconv_cpu_backward_enabled']

_PATCH_FLAG = '_s3pt_mm_cpu_backward'


def sparse_conv_backward(features: Tensor, filters: Tensor, out_bp: Tensor,
                         indice_pairs: Tensor, indice_pair_num: Tensor, inverse: bool = False,
                         subm: bool = False) -> Tuple[Tensor, Tensor]:
    """Gradients of a rule-book sparse convolution w.r.t. its input features and filters.

    Args:
        features (Tensor): (N_in, C_in) input features of the forward pass.
        filters (Tensor): (C_out, *kernel_size, C_in) weights in spconv's KRSC layout.
        out_bp (Tensor): (N_out, C_out) gradient of the loss w.r.t. the output features.
        indice_pairs (Tensor): (2, K, P) integer rule book, K = prod(kernel_size).
        indice_pair_num (Tensor): (K,) number of valid pairs per kernel offset.
        inverse (bool): an inverse convolution (rows 0 and 1 of the rule book swap roles).
            Defaults to False.
        subm (bool): a submanifold convolution (identity centre offset, mirrored counts).
            Defaults to False.

    Returns:
        Tuple[Tensor, Tensor]: ``d features`` (N_in, C_in) and ``d filters`` with the shape
        of ``filters``.

    Raises:
        ValueError: if the shapes of the arguments do not fit together (named in the message).
    """
    if features.ndim != 2 or out_bp.ndim != 2:
        raise ValueError(f'features and out_bp must be 2-D (rows, channels), got '
                         f'{tuple(features.shape)} and {tuple(out_bp.shape)}')
    c_out, c_in = filters.shape[0], filters.shape[-1]
    weight = filters.reshape(c_out, -1, c_in)  # (C_out, K, C_in)
    num_offsets = weight.shape[1]
    if features.shape[1] != c_in or out_bp.shape[1] != c_out:
        raise ValueError(f'filters {tuple(filters.shape)} (C_out, *k, C_in) do not match '
                         f'features {tuple(features.shape)} and out_bp {tuple(out_bp.shape)}')
    if indice_pairs.ndim != 3 or indice_pairs.shape[:2] != (2, num_offsets) or \
            indice_pair_num.numel() != num_offsets:
        raise ValueError(f'rule book shapes {tuple(indice_pairs.shape)} / '
                         f'{tuple(indice_pair_num.shape)} do not fit {num_offsets} kernel '
                         'offsets')
    row_in, row_out = (1, 0) if inverse else (0, 1)
    counts = indice_pair_num.tolist()
    centre = num_offsets // 2
    d_weight = torch.zeros_like(weight)
    if subm:
        # The centre offset pairs every row with itself.
        d_weight[:, centre] = out_bp.T @ features
        d_in = out_bp @ weight[:, centre]
    else:
        d_in = torch.zeros_like(features)
    for k in range(num_offsets):
        if subm and k == centre:
            continue
        n = counts[num_offsets - 1 - k] if (subm and k > centre) else counts[k]
        if n <= 0:
            continue
        idx_in = indice_pairs[row_in, k, :n].long()
        idx_out = indice_pairs[row_out, k, :n].long()
        grad = out_bp.index_select(0, idx_out)  # (n, C_out)
        d_weight[:, k] += grad.T @ features.index_select(0, idx_in)
        d_in.index_add_(0, idx_in, grad @ weight[:, k])
    return d_in, d_weight.reshape(filters.shape)


def _make_wrapper(original: Callable) -> Callable:
    """spconv's ``indice_conv_backward`` with CPU tensors routed to :func:`sparse_conv_backward`."""

    def indice_conv_backward(features, filters, out_bp, indice_pairs, indice_pair_num,
                             inverse=False, subm=False, *args, **kwargs):
        if features.is_cuda:
            return original(features, filters, out_bp, indice_pairs, indice_pair_num, inverse,
                            subm, *args, **kwargs)
        return sparse_conv_backward(features, filters, out_bp.contiguous(), indice_pairs,
                                    indice_pair_num, bool(inverse), bool(subm))

    setattr(indice_conv_backward, _PATCH_FLAG, True)
    indice_conv_backward.__wrapped__ = original
    indice_conv_backward.__doc__ = ('spconv indice_conv_backward; CPU tensors use '
                                    's3pt_mm.ops.spconv_cpu.sparse_conv_backward.')
    return indice_conv_backward


def _spconv_ops() -> Optional[object]:
    try:
        from spconv.pytorch import ops
    except ImportError:
        return None
    return ops


def spconv_cpu_backward_enabled() -> bool:
    """Whether spconv is importable and its CPU backward is routed through this module."""
    ops = _spconv_ops()
    return ops is not None and getattr(ops.indice_conv_backward, _PATCH_FLAG, False)


def enable_spconv_cpu_backward() -> bool:
    """Route spconv's convolution backward for CPU tensors through :func:`sparse_conv_backward`.

    Idempotent; CUDA tensors keep spconv's kernels. Only the KRSC weight layout (spconv 2.x's
    only layout, ``ALL_WEIGHT_IS_KRSC``) and the native rule-book algorithm (the only one a
    CPU-only spconv build allows) are handled; implicit-GEMM convolutions run on CUDA only.

    Returns:
        bool: True when spconv is installed and the wrapper is in place, False without spconv.

    Raises:
        RuntimeError: if the installed spconv stores weights in another layout than KRSC.
    """
    ops = _spconv_ops()
    if ops is None:
        return False
    if getattr(ops.indice_conv_backward, _PATCH_FLAG, False):
        return True
    from spconv import constants
    if not getattr(constants, 'ALL_WEIGHT_IS_KRSC', True):
        raise RuntimeError('s3pt_mm.ops.spconv_cpu handles KRSC weights only; this spconv '
                           'build uses another layout (SPCONV_SAVED_WEIGHT_LAYOUT)')
    ops.indice_conv_backward = _make_wrapper(ops.indice_conv_backward)
    return True
