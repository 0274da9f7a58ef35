"""OpenCV-exact image filters in pure torch, batched over ``(B, H, W)`` float32 maps.

These are the building blocks of the torch path of IP-Basic (:mod:`s3pt_mm.ops.ip_basic`).
Each function reproduces the numerics of the OpenCV call named in its docstring, border
handling included, so that the torch and the OpenCV pipelines agree pixel by pixel:

============================  =====================================  ==========================
torch function                OpenCV call                             border
============================  =====================================  ==========================
:func:`dilate`                ``cv2.dilate(x, kernel)``               outside pixels ignored
:func:`erode`                 ``cv2.erode(x, kernel)``                outside pixels ignored
:func:`morph_close`           ``cv2.morphologyEx(x, MORPH_CLOSE, k)`` outside pixels ignored
:func:`median_blur`           ``cv2.medianBlur(x, 3 | 5)``            ``BORDER_REPLICATE``
:func:`gaussian_blur5`        ``cv2.GaussianBlur(x, (5, 5), 0)``      ``BORDER_REFLECT_101``
:func:`bilateral_filter`      ``cv2.bilateralFilter(x, d, sc, ss)``   ``BORDER_REFLECT_101``
============================  =====================================  ==========================

Dilation, erosion and the median select input values, so they are bit-exact; the Gaussian
and bilateral filters agree to float32 rounding (see :func:`bilateral_filter` for the two
OpenCV float32 bilateral code paths).

Everything is written as whole-tensor operations (no loop over pixels or images), so the
same code runs on CPU and CUDA and can be fused by ``torch.compile``.
"""
import math
from typing import List, NamedTuple, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'MorphKernel', 'morph_kernel', 'full_kernel', 'dilate', 'erode', 'morph_close',
    'median_blur', 'gaussian_blur5', 'BilateralSupport', 'bilateral_support',
    'bilateral_filter'
]

# OpenCV's float bilateral filter: number of bins of its colour-weight look-up table.
_BILATERAL_LUT_BINS = 1 << 12
# OpenCV's fixed 5-tap kernel for GaussianBlur(ksize=5, sigma=0) (getGaussianKernel's table).
_GAUSSIAN5_TAPS = (0.0625, 0.25, 0.375, 0.25, 0.0625)
_FLT_EPSILON = float(np.finfo(np.float32).eps)


class MorphKernel(NamedTuple):
    """A binary structuring element, pre-decomposed for :func:`dilate` / :func:`erode`.

    Attributes:
        height (int): kernel rows ``kh``.
        width (int): kernel columns ``kw``.
        rects (tuple): rectangles ``(y0, y1, x0, x1)`` (inclusive, kernel coordinates) whose
            union is the set of non-zero kernel elements.
    """
    height: int
    width: int
    rects: Tuple[Tuple[int, int, int, int], ...]


def morph_kernel(kernel) -> MorphKernel:
    """Decompose a binary kernel into rectangles that cover its non-zero elements.

    Each horizontal run of ones in a kernel row is grown into the tallest rectangle of ones
    with the same columns. A dilation is then the max over the rectangles of a separable
    (row-then-column) max filter: a few passes per rectangle instead of one pass per kernel
    element (the 5x5 diamond has 13 elements and 3 rectangles, a cross 2, a full kernel 1).
    Building this outside ``torch.compile``'d code keeps numpy out of the traced graph.

    Args:
        kernel (array-like | MorphKernel): non-empty 2-D array, non-zero = in the element.

    Returns:
        MorphKernel: the decomposition (returned as is when already one).

    Raises:
        ValueError: if ``kernel`` is not a non-empty 2-D array.
    """
    if isinstance(kernel, MorphKernel):
        return kernel
    if isinstance(kernel, Tensor):
        kernel = kernel.detach().cpu().numpy()
    k = np.asarray(kernel)
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f'a morphology kernel must be a non-empty 2-D array, got shape '
                         f'{tuple(k.shape)}')
    k = k != 0
    rects = set()
    for y in range(k.shape[0]):
        padded = np.concatenate([[False], k[y], [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(padded))
        for x0, x1 in zip(edges[::2], edges[1::2] - 1):
            # Grow the run up and down while those rows are ones over [x0, x1]: rectangles
            # may overlap (max is idempotent), so each run yields its maximal rectangle.
            y0, y1 = y, y
            while y0 > 0 and k[y0 - 1, x0:x1 + 1].all():
                y0 -= 1
            while y1 + 1 < k.shape[0] and k[y1 + 1, x0:x1 + 1].all():
                y1 += 1
            rects.add((int(y0), int(y1), int(x0), int(x1)))
    return MorphKernel(int(k.shape[0]), int(k.shape[1]), tuple(sorted(rects)))


def full_kernel(size: int) -> MorphKernel:
    """The ``size x size`` all-ones structuring element (``np.ones((size, size))``)."""
    return MorphKernel(size, size, ((0, size - 1, 0, size - 1),))


def _max_window(xp: Tensor, dim: int, start: int, size: int, length: int) -> Tensor:
    """``out[i] = max(xp[start + i : start + i + size])`` along ``dim``, for ``i < length``.

    Sliding max by doubling (window 1, 2, 4, ... then one overlapping combine; exact because
    max is idempotent): ``ceil(log2(size))`` elementwise maxima, whatever the window size,
    where ``max_pool2d`` reads ``size`` values per output.
    """
    m = xp.narrow(dim, start, length + size - 1)
    width = 1
    while 2 * width <= size:
        n = m.shape[dim] - width
        m = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, width, n))
        width *= 2
    if width < size:
        m = torch.maximum(m.narrow(dim, 0, length), m.narrow(dim, size - width, length))
    return m.narrow(dim, 0, length)


def dilate(x: Tensor, kernel) -> Tensor:
    """Grey dilation with a binary structuring element, as ``cv2.dilate(x, kernel)``.

    ``out[y, x] = max { x[y + i - ay, x + j - ax] : kernel[i, j] != 0 }`` with the anchor
    ``(ay, ax) = (kh // 2, kw // 2)`` (OpenCV's default ``anchor=(-1, -1)``); pixels outside
    the image are ignored (OpenCV's ``BORDER_CONSTANT`` with ``morphologyDefaultBorderValue``,
    i.e. ``-inf`` for a dilation).

    Args:
        x (Tensor): maps of shape (B, H, W), float.
        kernel (array-like | MorphKernel): binary structuring element of shape (kh, kw).

    Returns:
        Tensor: dilated maps of shape (B, H, W).

    Raises:
        ValueError: if ``kernel`` is not a non-empty 2-D array.
    """
    k = morph_kernel(kernel)
    if not k.rects or (k.height, k.width) == (1, 1):
        # Identity: OpenCV leaves the image unchanged for an empty structuring element, and
        # a 1x1 one is the identity (a fresh tensor, never a view of x).
        return x.clone()
    ay, ax = k.height // 2, k.width // 2
    height, width = x.shape[-2:]
    xp = F.pad(x, (ax, k.width - 1 - ax, ay, k.height - 1 - ay), value=float('-inf'))
    out = None
    for y0, y1, x0, x1 in k.rects:
        rows = _max_window(xp, -1, x0, x1 - x0 + 1, width)
        term = _max_window(rows, -2, y0, y1 - y0 + 1, height)
        out = term if out is None else torch.maximum(out, term)
    return out.contiguous()


def erode(x: Tensor, kernel) -> Tensor:
    """Grey erosion with a binary structuring element, as ``cv2.erode(x, kernel)``.

    ``erode(x) = -dilate(-x)`` (negation is exact, so this is bit-exact); pixels outside the
    image are ignored (``+inf`` border).

    Args:
        x (Tensor): maps of shape (B, H, W), float.
        kernel (array-like | MorphKernel): binary structuring element of shape (kh, kw).

    Returns:
        Tensor: eroded maps of shape (B, H, W).
    """
    return dilate(x.neg(), kernel).neg_()


def morph_close(x: Tensor, kernel) -> Tensor:
    """Morphological closing, as ``cv2.morphologyEx(x, cv2.MORPH_CLOSE, kernel)``.

    Closing = dilation followed by erosion with the same element (both ignore outside pixels).

    Args:
        x (Tensor): maps of shape (B, H, W), float.
        kernel (array-like | MorphKernel): binary structuring element of shape (kh, kw).

    Returns:
        Tensor: closed maps of shape (B, H, W).
    """
    return erode(dilate(x, kernel), kernel)


def _batcher_comparators(n: int) -> List[Tuple[int, int, int]]:
    """Comparators ``(i, j, p)`` of Batcher's odd-even merge sort of ``n`` (a power of 2) wires.

    ``p`` is the size of the sorted blocks being merged by that comparator's stage (Knuth,
    TAOCP vol. 3, 5.3.4, Algorithm M).
    """
    comparators, p = [], 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        comparators.append((i + j, i + j + k, p))
            k //= 2
        p *= 2
    return comparators


def _next_pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _simulate_network(wires: list, comparators, first_id: int):
    """Symbolically run ``comparators`` on ``wires`` (ids or ``None`` = ``+inf`` padding).

    Comparators that touch a ``+inf`` wire are resolved without an operation. Returns the
    list of operations ``(out_id, is_max, a_id, b_id)`` and the final wire contents.
    """
    ops, next_id = [], first_id
    for i, j in comparators:
        a, b = wires[i], wires[j]
        if b is None:
            continue  # min(a, inf) = a stays low, inf stays high
        if a is None:
            wires[i], wires[j] = b, a
            continue
        ops.append((next_id, False, a, b))
        ops.append((next_id + 1, True, a, b))
        wires[i], wires[j] = next_id, next_id + 1
        next_id += 2
    return ops, wires


def _median_network(ksize: int):
    """A selection network for the median of a ``ksize x ksize`` window.

    Stage 1 sorts each column of the window (``ksize`` values; shared by the ``ksize``
    windows that contain the column). Stage 2 is the merge part of Batcher's network over the
    ``ksize`` sorted columns (each padded with ``+inf`` to a power of two), pruned to the
    operations the median output depends on. Both stages are exact min/max selections.

    Returns:
        tuple: ``(column_ops, column_outputs, merge_ops, median_id)``; inputs of stage 1 are
        ids ``0..ksize-1`` (the column top to bottom) and its outputs ``column_outputs`` are
        the sorted column; inputs of stage 2 are ids ``c * ksize + r`` (rank ``r`` of column
        ``c``).
    """
    k = ksize
    g = _next_pow2(k)
    col_ops, col_wires = _simulate_network(
        list(range(k)) + [None] * (g - k), [(i, j) for i, j, _ in _batcher_comparators(g)], k)
    col_out = col_wires[:k]

    n = _next_pow2(g * k)
    wires = []
    for c in range(n // g):
        wires += [c * k + r if (c < k and r < k) else None for r in range(g)]
    # Blocks of g wires are already sorted: only the stages merging blocks of size >= g remain.
    merge = [(i, j) for i, j, p in _batcher_comparators(n) if p >= g]
    ops, final = _simulate_network(wires, merge, k * k)
    median_id = final[(k * k) // 2]
    needed, kept = {median_id}, []
    for op in reversed(ops):
        if op[0] in needed:
            kept.append(op)
            needed.update(op[2:])
    kept.reverse()
    return col_ops, col_out, kept, median_id


def _run_ops(values: dict, ops) -> None:
    for out_id, is_max, a, b in ops:
        values[out_id] = torch.maximum(values[a], values[b]) if is_max else torch.minimum(
            values[a], values[b])


# Built once at import (a few ms), so that traced / compiled code only reads constants.
_MEDIAN_NETWORKS = {k: _median_network(k) for k in (3, 5)}


def median_blur(x: Tensor, ksize: int = 5) -> Tensor:
    """Median filter over a ``ksize x ksize`` window, as ``cv2.medianBlur(x, ksize)``.

    Border: ``BORDER_REPLICATE`` (what OpenCV uses for float images). Exact: the median is
    selected with a min/max network (see :func:`_median_network`), no arithmetic.

    Args:
        x (Tensor): maps of shape (B, H, W), float32.
        ksize (int): 3 or 5 (the sizes OpenCV supports for float images). Defaults to 5.

    Returns:
        Tensor: filtered maps of shape (B, H, W).

    Raises:
        ValueError: if ``ksize`` is not 3 or 5.
    """
    if ksize not in (3, 5):
        raise ValueError(f'median_blur supports ksize 3 or 5 (as cv2.medianBlur on float '
                         f'images), got {ksize}')
    r = ksize // 2
    height, width = x.shape[-2:]
    xp = F.pad(x.unsqueeze(1), (r, r, r, r), mode='replicate').squeeze(1)
    col_ops, col_out, merge_ops, median_id = _MEDIAN_NETWORKS[ksize]
    # Stage 1 on the padded map: the sorted vertical ksize-window at every padded column.
    values = {i: xp[:, i:i + height, :] for i in range(ksize)}
    _run_ops(values, col_ops)
    sorted_cols = [values[i] for i in col_out]
    # Stage 2: window at (y, x) = sorted columns x .. x + ksize - 1 of the padded map.
    values = {
        c * ksize + rank: sorted_cols[rank][:, :, c:c + width]
        for c in range(ksize) for rank in range(ksize)
    }
    _run_ops(values, merge_ops)
    return values[median_id].contiguous()


def _shifted_sum(xp: Tensor, taps: Sequence[float], dim: int, length: int) -> Tensor:
    """``sum_i taps[i] * xp[..., i + j, ...]`` for ``j < length`` along ``dim``."""
    out = xp.narrow(dim, 0, length) * taps[0]
    for i in range(1, len(taps)):
        out = out + xp.narrow(dim, i, length) * taps[i]
    return out


def gaussian_blur5(x: Tensor) -> Tensor:
    """5x5 Gaussian blur with OpenCV's default sigma, as ``cv2.GaussianBlur(x, (5, 5), 0)``.

    For ``ksize = 5`` and ``sigma = 0`` OpenCV uses the fixed separable kernel
    ``[1, 4, 6, 4, 1] / 16`` (not ``sigma = 1.1`` sampled), applied along rows then columns;
    border ``BORDER_REFLECT_101`` (torch's ``'reflect'`` padding).

    Args:
        x (Tensor): maps of shape (B, H, W), float32.

    Returns:
        Tensor: blurred maps of shape (B, H, W).
    """
    height, width = x.shape[-2:]
    xp = F.pad(x.unsqueeze(1), (2, 2, 2, 2), mode='reflect').squeeze(1)
    rows = _shifted_sum(xp, _GAUSSIAN5_TAPS, -1, width)
    return _shifted_sum(rows, _GAUSSIAN5_TAPS, -2, height)


class BilateralSupport(NamedTuple):
    """Spatial part of OpenCV's bilateral filter (see :func:`bilateral_support`)."""
    radius: int
    offsets: Tuple[Tuple[int, int, float], ...]


def bilateral_support(d: int, sigma_space: float) -> BilateralSupport:
    """Radius and circular support ``(dy, dx, weight)`` of OpenCV's bilateral filter.

    OpenCV: ``radius = d // 2`` (``round(1.5 sigma_space)`` if ``d <= 0``), at least 1;
    neighbours with ``sqrt(dy^2 + dx^2) <= radius`` excluding the centre, in row-major order
    (the order OpenCV accumulates them), with weights ``exp(-(dy^2 + dx^2) / (2 ss^2))``
    rounded to float32.

    Args:
        d (int): diameter (OpenCV's ``d``).
        sigma_space (float): spatial sigma in pixels, > 0.

    Returns:
        BilateralSupport: radius and offsets.
    """
    radius = d // 2 if d > 0 else int(math.floor(sigma_space * 1.5 + 0.5))
    radius = max(radius, 1)
    coeff = -0.5 / (sigma_space * sigma_space)
    offsets = []
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            r = math.sqrt(float(dy * dy + dx * dx))
            if r > radius or (dy == 0 and dx == 0):
                continue
            offsets.append((dy, dx, float(np.float32(math.exp(r * r * coeff)))))
    return BilateralSupport(radius, tuple(offsets))


def bilateral_filter(x: Tensor,
                     d: int,
                     sigma_color: float,
                     sigma_space: float,
                     support: BilateralSupport = None,
                     colour_lut: bool = False) -> Tensor:
    """Bilateral filter on float32 maps, as ``cv2.bilateralFilter(x, d, sc, ss)``.

    ``out = (x_0 + sum_k w_k x_k) / (1 + sum_k w_k)``, ``w_k = space_k * colour(|x_k - x_0|)``
    over OpenCV's circular support (:func:`bilateral_support`), border
    ``BORDER_REFLECT_101``. OpenCV has two float32 code paths for the colour weight
    ``exp(-dv^2 / (2 sc^2))``, and this function follows either:

    - ``colour_lut=False`` (default): the exact exponential, as the Intel IPP path that the
      x86 ``opencv-python`` wheels take (``cv2.ipp.useIPP()`` is True);
    - ``colour_lut=True``: OpenCV's own ``bilateralFilter_32f``, used without IPP: a
      4098-entry float32 table over ``dv in [0, max(x) - min(x)]`` (4096 bins, per image)
      read with linear interpolation; a constant image (range < ``FLT_EPSILON``) is returned
      unchanged.

    Either agrees with the matching OpenCV path to float32 rounding (a few 1e-5 at values
    near 100); the two paths differ from each other by up to ~1e-4 there. Input must be
    finite (OpenCV's NaN handling is not reproduced).

    Args:
        x (Tensor): maps of shape (B, H, W), float32.
        d (int): diameter of the support (OpenCV's ``d``).
        sigma_color (float): colour sigma (depth units).
        sigma_space (float): spatial sigma (pixels).
        support (BilateralSupport, optional): ``bilateral_support(d, sigma_space)``,
            precomputed (e.g. outside ``torch.compile``'d code). Defaults to None (computed).
        colour_lut (bool): reproduce OpenCV's look-up-table path instead of the exact
            exponential. Defaults to False.

    Returns:
        Tensor: filtered maps of shape (B, H, W), float32.
    """
    if sigma_color <= 1e-6 or sigma_space <= 1e-6:
        # OpenCV copies the input for non-positive sigmas; so do we, explicitly.
        return x.clone()
    if support is None:
        support = bilateral_support(int(d), float(sigma_space))
    radius = support.radius
    height, width = x.shape[-2:]
    colour_coeff = -0.5 / (sigma_color * sigma_color)
    if colour_lut:
        colour, constant = _colour_lut_weights(x, colour_coeff)
    else:
        def colour(diff: Tensor) -> Tensor:
            return torch.exp(diff * diff * colour_coeff)

    xp = F.pad(x.unsqueeze(1), (radius,) * 4, mode='reflect').squeeze(1)
    total = torch.zeros_like(x)
    weight_sum = torch.zeros_like(x)
    # Accumulated in OpenCV's order (row-major offsets), so float32 sums round alike.
    for dy, dx, space_weight in support.offsets:
        val = xp[:, radius + dy:radius + dy + height, radius + dx:radius + dx + width]
        w = space_weight * colour(val - x)
        weight_sum = weight_sum + w
        total = total + val * w
    out = (total + x) / (weight_sum + 1.0)
    if colour_lut:
        out = torch.where(constant, x, out)
    return out


def _colour_lut_weights(x: Tensor, colour_coeff: float):
    """OpenCV's per-image interpolated colour table: ``(colour(diff), constant (B, 1, 1))``."""
    batch = x.shape[0]
    flat = x.reshape(batch, -1)
    span = flat.amax(dim=1).double() - flat.amin(dim=1).double()
    constant = span.abs() < _FLT_EPSILON
    # float32 as OpenCV: len = (float)(max - min); scale = 4096 / len.
    length = torch.where(constant, torch.ones_like(span), span).float()
    scale = torch.tensor(float(_BILATERAL_LUT_BINS), dtype=torch.float32,
                         device=x.device) / length
    # Entry i = (float)exp(v^2 * coeff), v = i / scale: OpenCV divides the int i by the float
    # scale in float32, then squares and exponentiates in double precision.
    bins = torch.arange(_BILATERAL_LUT_BINS + 2, dtype=torch.float32, device=x.device)
    v = (bins[None, :] / scale[:, None]).double()
    lut = torch.exp(v * v * colour_coeff).float().reshape(-1)
    base = (torch.arange(batch, device=x.device) * (_BILATERAL_LUT_BINS + 2)).view(batch, 1, 1)
    scale = scale.view(batch, 1, 1)

    def colour(diff: Tensor) -> Tensor:
        # |diff| <= max - min, so alpha <= 4096 up to rounding: the clamp keeps idx + 1 valid.
        alpha = (diff.abs() * scale).clamp(max=float(_BILATERAL_LUT_BINS))
        idx = alpha.to(torch.int64)  # trunc == floor for alpha >= 0
        alpha = alpha - idx.to(torch.float32)
        idx = idx + base
        return lut[idx + 1] * alpha + lut[idx] * (1.0 - alpha)

    return colour, constant.view(batch, 1, 1)
