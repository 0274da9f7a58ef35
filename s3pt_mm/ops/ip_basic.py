"""IP-Basic depth completion (Ku et al. 2018), for numpy and torch depth maps.

"In Defense of Classical Image Processing: Fast Depth Completion on the CPU" (Ku, Harakeh,
Waslander, CRV 2018) densifies a sparse LiDAR depth map with morphology and blurs only.
:func:`fill_in_fast` and :func:`fill_in_multiscale` reproduce the reference implementation
(``ip_basic/depth_map_utils.py``) step for step, including its thresholds (a pixel is valid
when its depth is > 0.1 m) and OpenCV's border and rounding behaviour, and expose its
kernel sizes as keyword arguments (docs/method.md §4: nuScenes' 32-beam LiDAR is much
sparser than the 64-beam KITTI data the defaults were tuned on).

Backends (``backend=``):

- ``'cv2'``: OpenCV on each ``(H, W)`` map, the reference's calls without its redundant
  copies and masked fancy-indexing; bit-identical to the reference.
- ``'torch'``: whole-batch ``(B, H, W)`` torch ops on the input's device
  (:mod:`s3pt_mm.ops.torch_filters`): morphology and medians bit-exact, the blurs to float32
  rounding (< 1e-4 m from the reference on the real keyframe). Its bilateral filter follows
  OpenCV's IPP code path, the one x86 ``opencv-python`` wheels run.
- ``'torch_compile'``: the same torch code through ``torch.compile`` (fused kernels, for GPU
  throughput); compiled on first use per (parameters, shape, device): tens of seconds.
- ``'cuda'``: :func:`fill_in_fast` only, CUDA tensors only: the compiled kernels of
  ``s3pt_mm/ops/csrc/cuda/fill_in_fast_cuda.cu`` (one fused kernel per step, the torch
  backend's borders and float32 roundings: morphology and median bit-exact, the blurs equal
  up to ``expf``'s last bit). Needs the extension (``FORCE_CUDA=1`` build, see
  docs/installation.md); raises :class:`~s3pt_mm.ops.ext_loader.ExtensionUnavailableError`
  saying why when it cannot run.
- ``'auto'`` (default): ``'cv2'`` for numpy arrays and CPU tensors; for CUDA tensors
  ``'cuda'`` when the extension is built (``fill_in_fast``), else ``'torch'``; ``'torch'``
  for tensors on another device.

New backends plug in through :func:`_get_backend`.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from . import ext_loader
from . import torch_filters as tf

__all__ = [
    'fill_in_fast', 'fill_in_multiscale', 'DIAMOND_KERNEL_5', 'CROSS_KERNEL_3',
    'CROSS_KERNEL_5', 'CROSS_KERNEL_7', 'DIAMOND_KERNEL_7'
]

DepthMap = Union[np.ndarray, Tensor]

# A pixel with depth > VALID_THRESHOLD metres carries a depth (IP-Basic's convention).
VALID_THRESHOLD = 0.1


def _kernel(rows) -> np.ndarray:
    k = np.asarray(rows, dtype=np.uint8)
    k.setflags(write=False)
    return k


def _cross(size: int) -> np.ndarray:
    k = np.zeros((size, size), np.uint8)
    k[size // 2, :] = 1
    k[:, size // 2] = 1
    return _kernel(k)


def _diamond(size: int) -> np.ndarray:
    r = size // 2
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return _kernel(np.abs(yy) + np.abs(xx) <= r)


# IP-Basic's structuring elements (1 = in the element).
CROSS_KERNEL_3 = _cross(3)
CROSS_KERNEL_5 = _cross(5)
CROSS_KERNEL_7 = _cross(7)
DIAMOND_KERNEL_5 = _diamond(5)
DIAMOND_KERNEL_7 = _diamond(7)


@dataclass(frozen=True)
class _FastParams:
    """Everything :func:`fill_in_fast` needs besides the depth map (hashable)."""
    max_depth: float
    extrapolate: bool
    blur_type: str
    dilation: tf.MorphKernel
    closing: tf.MorphKernel
    fill: tf.MorphKernel
    extrapolation: tf.MorphKernel
    bilateral: tf.BilateralSupport


@dataclass(frozen=True)
class _MultiscaleParams:
    """Everything :func:`fill_in_multiscale` needs besides the depth map (hashable)."""
    max_depth: float
    extrapolate: bool
    blur_type: str
    near: tf.MorphKernel
    med: tf.MorphKernel
    far: tf.MorphKernel
    near_max: float
    med_max: float
    closing: tf.MorphKernel
    hole_fill: tf.MorphKernel
    large_fill: tf.MorphKernel
    large_fill_iterations: int
    bilateral: tf.BilateralSupport


# Blur parameters of the reference: fill_in_fast bilateral (d=5, sigmaColor=1.5,
# sigmaSpace=2.0), fill_in_multiscale bilateral (5, 0.5, 2.0); 5x5 medians, 5x5 Gaussian.
_FAST_BILATERAL = (5, 1.5, 2.0)
_MULTISCALE_BILATERAL = (5, 0.5, 2.0)
_MEDIAN_KSIZE = 5
_BLUR_TYPES = ('bilateral', 'gaussian')
_BACKENDS = ('auto', 'cv2', 'torch', 'torch_compile', 'cuda')
# Compiled operator of each function that has a 'cuda' backend.
_CUDA_OPS = {'fill_in_fast': 'fill_in_fast_forward'}


def fill_in_fast(depth: DepthMap,
                 max_depth: float = 100.0,
                 extrapolate: bool = False,
                 blur_type: str = 'bilateral',
                 *,
                 dilation_kernel=DIAMOND_KERNEL_5,
                 closing_kernel_size: int = 5,
                 fill_kernel_size: int = 7,
                 extrapolation_kernel_size: int = 31,
                 backend: str = 'auto') -> DepthMap:
    """Fast IP-Basic depth completion (Ku et al. 2018, ``fill_in_fast``).

    With ``valid = d > 0.1``: invert valid depths ``d <- max_depth - d`` (so a max filter
    prefers near points); dilate with ``dilation_kernel`` (5x5 diamond); close with a full
    ``closing_kernel_size`` kernel; fill pixels ``< 0.1`` from a full ``fill_kernel_size``
    dilation; if ``extrapolate``, copy each column's top valid value up to row 0 and fill
    pixels ``< 0.1`` from a full ``extrapolation_kernel_size`` dilation; 5x5 median blur;
    then either a bilateral filter (d=5, sigmaColor=1.5, sigmaSpace=2.0) on the whole map or
    a 5x5 Gaussian blur written to valid pixels only; invert valid pixels back.

    Args:
        depth (np.ndarray | Tensor): sparse depth in metres, 0 (or <= 0.1) = empty; shape
            (H, W) or (B, H, W); numpy or torch on any device; floating dtype. Not modified.
        max_depth (float): inversion offset, metres. Defaults to 100.0.
        extrapolate (bool): extend depths to the image top (IP-Basic's option; the S3PT
            pipeline turns it on). Defaults to False.
        blur_type (str): ``'bilateral'`` (keeps edges) or ``'gaussian'`` (lower RMSE).
            Defaults to ``'bilateral'``.
        dilation_kernel (array-like): first dilation's structuring element, (kh, kw) binary.
            Defaults to the 5x5 diamond.
        closing_kernel_size (int): side of the full closing kernel. Defaults to 5.
        fill_kernel_size (int): side of the full hole-filling kernel. Defaults to 7.
        extrapolation_kernel_size (int): side of the full kernel used after extrapolation.
            Defaults to 31.
        backend (str): ``'auto'``, ``'cv2'``, ``'torch'``, ``'torch_compile'`` or ``'cuda'``
            (see the module docstring). Defaults to ``'auto'``.

    Returns:
        np.ndarray | Tensor: dense depth in metres, same type, shape, dtype and device as
        ``depth`` (computed in float32); pixels still empty hold 0 (or their input value
        when it was <= 0.1).

    Raises:
        ValueError: on a non-floating dtype, a shape other than (H, W) / (B, H, W), a
            non-finite depth, an unknown ``blur_type`` / ``backend``, a bad kernel, or
            ``backend='cuda'`` for a depth map that is not a CUDA tensor.
        ExtensionUnavailableError: for ``backend='cuda'`` when the compiled kernel cannot run
            here (extension not built, or no GPU); the message says why.
    """
    params = _FastParams(
        max_depth=_check_max_depth(max_depth),
        extrapolate=bool(extrapolate),
        blur_type=_check_choice('blur_type', blur_type, _BLUR_TYPES),
        dilation=tf.morph_kernel(dilation_kernel),
        closing=tf.full_kernel(_check_size('closing_kernel_size', closing_kernel_size)),
        fill=tf.full_kernel(_check_size('fill_kernel_size', fill_kernel_size)),
        extrapolation=tf.full_kernel(
            _check_size('extrapolation_kernel_size', extrapolation_kernel_size)),
        bilateral=tf.bilateral_support(_FAST_BILATERAL[0], _FAST_BILATERAL[2]))
    return _run('fill_in_fast', depth, params, backend)


def fill_in_multiscale(depth: DepthMap,
                       max_depth: float = 100.0,
                       extrapolate: bool = False,
                       blur_type: str = 'bilateral',
                       *,
                       dilation_kernel_far=CROSS_KERNEL_3,
                       dilation_kernel_med=CROSS_KERNEL_5,
                       dilation_kernel_near=CROSS_KERNEL_7,
                       bin_edges: Tuple[float, float] = (15.0, 30.0),
                       closing_kernel_size: int = 5,
                       hole_fill_kernel_size: int = 9,
                       large_fill_kernel_size: int = 5,
                       large_fill_iterations: int = 6,
                       backend: str = 'auto') -> DepthMap:
    """Multi-scale IP-Basic depth completion (Ku et al. 2018, ``fill_in_multiscale``).

    Steps of the reference (``valid`` = depth > 0.1): bin valid depths into near (<= 15 m),
    med (<= 30 m) and far; invert; dilate each bin with its own kernel (cross 7 / 5 / 3) and
    overwrite far, then med, then near results where > 0.1; close (full 5x5); median blur
    (5x5) written to valid pixels; mask out pixels above each column's top valid pixel;
    fill empty unmasked pixels from a full 9x9 dilation; extrapolate to the top (or mask the
    region above the top again); 6 rounds of filling empty unmasked pixels from a full 5x5
    dilation; median blur of valid unmasked pixels; Gaussian (5x5) or bilateral
    (d=5, sigmaColor=0.5, sigmaSpace=2.0) blur of valid unmasked pixels; invert back. Unlike
    the reference it returns only the depth map (no ``process_dict``).

    Args:
        depth (np.ndarray | Tensor): sparse depth in metres, 0 (or <= 0.1) = empty; shape
            (H, W) or (B, H, W); numpy or torch on any device; floating dtype. Not modified.
        max_depth (float): inversion offset, metres. Defaults to 100.0.
        extrapolate (bool): extend depths to the image top. Defaults to False.
        blur_type (str): ``'bilateral'`` or ``'gaussian'``. Defaults to ``'bilateral'``.
        dilation_kernel_far (array-like): kernel for depths > ``bin_edges[1]``. Defaults to
            the 3x3 cross.
        dilation_kernel_med (array-like): kernel for depths in (``bin_edges[0]``,
            ``bin_edges[1]``]. Defaults to the 5x5 cross.
        dilation_kernel_near (array-like): kernel for depths in (0.1, ``bin_edges[0]``].
            Defaults to the 7x7 cross.
        bin_edges (tuple[float, float]): near/med and med/far edges, metres. Defaults to
            (15.0, 30.0).
        closing_kernel_size (int): full closing kernel side. Defaults to 5.
        hole_fill_kernel_size (int): full hole-fill kernel side. Defaults to 9.
        large_fill_kernel_size (int): full kernel side of the repeated fill. Defaults to 5.
        large_fill_iterations (int): rounds of the repeated fill. Defaults to 6.
        backend (str): see :func:`fill_in_fast`; ``'cuda'`` is not available for this
            function (``'auto'`` picks ``'torch'`` for CUDA tensors). Defaults to ``'auto'``.

    Returns:
        np.ndarray | Tensor: dense depth in metres, same type, shape, dtype and device as
        ``depth`` (computed in float32).

    Raises:
        ValueError: as :func:`fill_in_fast`, on unordered ``bin_edges``, a negative
            ``large_fill_iterations`` or ``backend='cuda'``.
    """
    near_max, med_max = (float(e) for e in bin_edges)
    if not VALID_THRESHOLD <= near_max <= med_max:
        raise ValueError(f'bin_edges must satisfy 0.1 <= near <= med, got {tuple(bin_edges)}')
    if int(large_fill_iterations) != large_fill_iterations or large_fill_iterations < 0:
        raise ValueError(f'large_fill_iterations must be an integer >= 0, got '
                         f'{large_fill_iterations!r}')
    params = _MultiscaleParams(
        max_depth=_check_max_depth(max_depth),
        extrapolate=bool(extrapolate),
        blur_type=_check_choice('blur_type', blur_type, _BLUR_TYPES),
        near=tf.morph_kernel(dilation_kernel_near),
        med=tf.morph_kernel(dilation_kernel_med),
        far=tf.morph_kernel(dilation_kernel_far),
        near_max=near_max,
        med_max=med_max,
        closing=tf.full_kernel(_check_size('closing_kernel_size', closing_kernel_size)),
        hole_fill=tf.full_kernel(_check_size('hole_fill_kernel_size', hole_fill_kernel_size)),
        large_fill=tf.full_kernel(
            _check_size('large_fill_kernel_size', large_fill_kernel_size)),
        large_fill_iterations=int(large_fill_iterations),
        bilateral=tf.bilateral_support(_MULTISCALE_BILATERAL[0], _MULTISCALE_BILATERAL[2]))
    return _run('fill_in_multiscale', depth, params, backend)


# --------------------------------------------------------------------------------------
# Argument checks and dispatch
# --------------------------------------------------------------------------------------
def _check_max_depth(max_depth: float) -> float:
    max_depth = float(max_depth)
    if not np.isfinite(max_depth):
        raise ValueError(f'max_depth must be finite, got {max_depth}')
    return max_depth


def _check_size(name: str, size: int) -> int:
    if isinstance(size, bool) or int(size) != size or size < 1:
        raise ValueError(f'{name} must be a positive integer, got {size!r}')
    return int(size)


def _check_choice(name: str, value: str, choices: Tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')
    return value


def _check_depth(depth: DepthMap) -> None:
    """Raise ValueError unless ``depth`` is a finite floating (H, W) / (B, H, W) map."""
    if isinstance(depth, Tensor):
        floating, name = depth.is_floating_point(), 'tensor'
    elif isinstance(depth, np.ndarray):
        floating, name = np.issubdtype(depth.dtype, np.floating), 'array'
    else:
        raise ValueError(f'depth must be a numpy array or a torch tensor, got '
                         f'{type(depth).__name__}')
    if depth.ndim not in (2, 3) or min(depth.shape[-2:], default=0) < 1:
        raise ValueError(f'depth must have shape (H, W) or (B, H, W) with H, W >= 1, got '
                         f'{tuple(depth.shape)}')
    if not floating:
        raise ValueError(f'depth must be a floating-point {name} in metres, got dtype '
                         f'{depth.dtype}')
    if depth.numel() if isinstance(depth, Tensor) else depth.size:
        # min and max propagate NaN and show +-inf: two reductions, no temporary mask.
        lo, hi = (depth.aminmax() if isinstance(depth, Tensor) else (depth.min(), depth.max()))
        finite = bool(np.isfinite(float(lo)) and np.isfinite(float(hi)))
    else:
        finite = True
    if not finite:
        raise ValueError('depth contains NaN or inf; mark empty pixels with 0 instead')


def _run(name: str, depth: DepthMap, params, backend: str) -> DepthMap:
    """Validate ``depth``, pick the backend, run it on a (B, H, W) float32 batch, restore
    the input's type, shape, dtype and device."""
    _check_choice('backend', backend, _BACKENDS)
    _check_depth(depth)
    is_tensor = isinstance(depth, Tensor)
    if backend == 'auto':
        backend = _auto_backend(name, depth)
    impl = _get_backend(name, backend)
    if backend == 'cuda' and not (is_tensor and depth.device.type == 'cuda'):
        where = f'a tensor on {depth.device}' if is_tensor else 'a numpy array'
        raise ValueError(f"{name}: backend='cuda' runs on CUDA tensors only, got {where}; "
                         "move the map to the GPU or use backend='auto'")
    batched = depth.ndim == 3
    if batched and depth.shape[0] == 0:
        return depth.clone() if is_tensor else depth.copy()
    if backend == 'cv2':
        x = depth.detach().cpu().numpy() if is_tensor else depth
        x = x.astype(np.float32, copy=False)
    else:
        x = depth.detach() if is_tensor else torch.from_numpy(np.ascontiguousarray(depth))
        x = x.to(torch.float32)
    out = impl(x if batched else x[None], params)
    out = out if batched else out[0]
    if is_tensor:
        out = out if isinstance(out, Tensor) else torch.from_numpy(out)
        return out.to(device=depth.device, dtype=depth.dtype)
    out = out.numpy() if isinstance(out, Tensor) else out
    return out.astype(depth.dtype, copy=False)


def _auto_backend(name: str, depth: DepthMap) -> str:
    """``backend='auto'``: OpenCV on the CPU, the compiled kernel for CUDA tensors when there
    is one (else torch ops), torch ops on other devices."""
    if not isinstance(depth, Tensor) or depth.device.type == 'cpu':
        return 'cv2'
    if (depth.device.type == 'cuda' and name in _CUDA_OPS
            and ext_loader.ext_available(_CUDA_OPS[name])):
        return 'cuda'
    return 'torch'


def _get_backend(name: str, backend: str) -> Callable:
    """The implementation of ``name`` for ``backend``: the one place new backends plug in.

    Raises:
        ValueError: for ``backend='cuda'`` and a function without a compiled kernel.
        ExtensionUnavailableError: for ``backend='cuda'`` when the kernel cannot run here.
    """
    if backend == 'cuda':
        if name not in _CUDA_OPS:
            raise ValueError(f"{name} has no backend='cuda' (compiled kernels exist for "
                             f"{sorted(_CUDA_OPS)}); use 'torch' or 'torch_compile'")
        ext_loader.get_op(_CUDA_OPS[name])  # raises, saying why, when it cannot run here
        return {'fill_in_fast': _fill_in_fast_cuda}[name]
    if backend == 'cv2':
        return {'fill_in_fast': _fill_in_fast_cv2_batch,
                'fill_in_multiscale': _fill_in_multiscale_cv2_batch}[name]
    eager = {'fill_in_fast': _fill_in_fast_torch,
             'fill_in_multiscale': _fill_in_multiscale_torch}[name]
    if backend == 'torch':
        return eager
    return lambda x, params: _compiled(eager, params)(x)


_COMPILED: Dict[tuple, Callable] = {}


def _compiled(fn: Callable, params) -> Callable:
    """``torch.compile`` of ``fn`` with ``params`` baked in, cached per (fn, params)."""
    key = (fn.__name__, params)
    if key not in _COMPILED:

        def run(x: Tensor) -> Tensor:
            return fn(x, params)

        _COMPILED[key] = torch.compile(run, dynamic=False)
    return _COMPILED[key]


# --------------------------------------------------------------------------------------
# OpenCV backend: one (H, W) float32 map at a time
# --------------------------------------------------------------------------------------
def _cv2():
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - opencv-python is a runtime requirement
        raise ImportError("backend='cv2' needs opencv-python (pip install 'opencv-python<5')"
                          ) from e
    return cv2


def _np_kernel(kernel: tf.MorphKernel) -> np.ndarray:
    k = np.zeros((kernel.height, kernel.width), np.uint8)
    for y0, y1, x0, x1 in kernel.rects:
        k[y0:y1 + 1, x0:x1 + 1] = 1
    return k


def _nonzero_np(depth: np.ndarray) -> np.ndarray:
    """Flat indices of the non-zero pixels (``nonzero`` of a bool mask: 15x faster than of
    a float array)."""
    return np.flatnonzero(depth != 0)


def _invert_sparse_np(src: np.ndarray, dst: np.ndarray, max_depth: float,
                      nonzero: np.ndarray = None) -> None:
    """``dst = src`` with ``max_depth - d`` where ``d > 0.1``, for sparse ``src``.

    ``nonzero`` (flat indices of ``src``'s non-zero pixels) may be passed when known.
    """
    np.copyto(dst, src)
    # Input maps are sparse: touching only the non-zero pixels beats a full masked pass.
    nonzero = _nonzero_np(src) if nonzero is None else nonzero
    flat = dst.reshape(-1)
    values = flat[nonzero]
    valid = nonzero[values > VALID_THRESHOLD]
    flat[valid] = max_depth - flat[valid]


def _invert_inplace_np(depth: np.ndarray, max_depth: float) -> None:
    """In place: ``max_depth - d`` where ``d > 0.1`` (dense maps: one masked pass)."""
    np.subtract(max_depth, depth, out=depth, where=depth > VALID_THRESHOLD)


def _top_rows_np(valid: np.ndarray) -> np.ndarray:
    """Row of each column's first valid pixel, 0 for a column with none ((W,) int)."""
    return valid.argmax(axis=0)


def _extend_to_top_np(depth: np.ndarray, top: np.ndarray) -> None:
    """In place: ``depth[:top[c], c] = depth[top[c], c]`` for every column ``c``."""
    rows = int(top.max())
    if rows == 0:
        return
    values = depth[top, np.arange(depth.shape[1])]
    above = np.arange(rows)[:, None] < top[None, :]
    np.copyto(depth[:rows], np.broadcast_to(values, (rows, depth.shape[1])), where=above)


def _cv2_batched(per_image: Callable, num_scratch: int) -> Callable:
    """Run ``per_image(src, params, dst, *scratch)`` over a (B, H, W) batch.

    Every OpenCV call writes into a preallocated buffer (``dst=``), reused across the
    batch: a fresh 5.8 MB array per call (what the reference does) costs page faults that
    are a sizeable part of the run time at 1600 x 900.
    """

    def run(batch: np.ndarray, params) -> np.ndarray:
        out = np.empty(batch.shape, np.float32)
        scratch = [np.empty(batch.shape[1:], np.float32) for _ in range(num_scratch)]
        for src, dst in zip(batch, out):
            per_image(src, params, dst, *scratch)
        return out

    return run


def _fast_reach(p: _FastParams) -> int:
    """Rows over which one input row can influence the output of :func:`fill_in_fast`
    (without extrapolation): the sum of the steps' kernel half-heights."""
    return (p.dilation.height // 2 + 2 * (p.closing.height // 2) + p.fill.height // 2 +
            _MEDIAN_KSIZE // 2 + 2)  # 2 = radius of the bilateral / Gaussian blur


def _fill_in_fast_cv2(src: np.ndarray, p: _FastParams, d: np.ndarray, tmp: np.ndarray) -> None:
    """:func:`fill_in_fast` of one (H, W) float32 map into ``d``, with OpenCV."""
    cv2 = _cv2()
    if not p.extrapolate:
        # Without extrapolation every step is local: rows farther than the reach from any
        # non-zero input row stay exactly 0 (sky above a LiDAR's top beam: 20-50 % of a
        # nuScenes image). Filter only the band of rows around the non-zero ones, padded by
        # twice the reach so that the band's own borders see the same zeros as the image.
        nonzero = _nonzero_np(src)
        if nonzero.size == 0:
            d.fill(0)
            return
        margin = 2 * _fast_reach(p)
        r0 = max(0, int(nonzero[0]) // src.shape[1] - margin)
        r1 = min(src.shape[0], int(nonzero[-1]) // src.shape[1] + 1 + margin)
        if (r0, r1) != (0, src.shape[0]):
            d[:r0] = 0
            d[r1:] = 0
            src, d, tmp = src[r0:r1], d[r0:r1], tmp[r0:r1]
            nonzero = nonzero - r0 * src.shape[1]
        _invert_sparse_np(src, d, p.max_depth, nonzero)
    else:
        _invert_sparse_np(src, d, p.max_depth)
    cv2.dilate(d, _np_kernel(p.dilation), dst=tmp)
    cv2.morphologyEx(tmp, cv2.MORPH_CLOSE, _np_kernel(p.closing), dst=d)
    cv2.dilate(d, _np_kernel(p.fill), dst=tmp)
    np.copyto(d, tmp, where=d < VALID_THRESHOLD)
    if p.extrapolate:
        _extend_to_top_np(d, _top_rows_np(d > VALID_THRESHOLD))
        cv2.dilate(d, _np_kernel(p.extrapolation), dst=tmp)
        np.copyto(d, tmp, where=d < VALID_THRESHOLD)
    cv2.medianBlur(d, _MEDIAN_KSIZE, dst=tmp)
    if p.blur_type == 'bilateral':
        cv2.bilateralFilter(tmp, *_FAST_BILATERAL, dst=d)
    else:
        # Gaussian on valid pixels only: d = blurred where tmp > 0.1, tmp elsewhere.
        cv2.GaussianBlur(tmp, (5, 5), 0, dst=d)
        np.copyto(d, tmp, where=tmp <= VALID_THRESHOLD)
    _invert_inplace_np(d, p.max_depth)


def _fill_in_multiscale_cv2(src: np.ndarray, p: _MultiscaleParams, d: np.ndarray,
                            s1: np.ndarray, s2: np.ndarray, tmp: np.ndarray) -> None:
    """:func:`fill_in_multiscale` of one (H, W) float32 map into ``d``, with OpenCV."""
    cv2 = _cv2()
    valid_near = (src > VALID_THRESHOLD) & (src <= p.near_max)
    valid_med = (src > p.near_max) & (src <= p.med_max)
    valid_far = src > p.med_max
    _invert_sparse_np(src, s1, p.max_depth)

    # Multi-scale dilation: far first, then med, then near overwrite where they reach.
    np.copyto(s2, s1)
    for mask, kernel in ((valid_far, p.far), (valid_med, p.med), (valid_near, p.near)):
        np.multiply(s1, mask, out=tmp)
        cv2.dilate(tmp, _np_kernel(kernel), dst=d)
        np.copyto(s2, d, where=d > VALID_THRESHOLD)

    # s3 (closing) -> d; s4 = median written to valid pixels of s3, in d.
    cv2.morphologyEx(s2, cv2.MORPH_CLOSE, _np_kernel(p.closing), dst=d)
    cv2.medianBlur(d, _MEDIAN_KSIZE, dst=tmp)
    np.copyto(d, tmp, where=d > VALID_THRESHOLD)

    # s5: hole fill below each column's top valid pixel.
    rows = np.arange(d.shape[0])[:, None]
    valid = d > VALID_THRESHOLD
    top_mask = rows >= _top_rows_np(valid)[None, :]
    cv2.dilate(d, _np_kernel(p.hole_fill), dst=tmp)
    np.copyto(d, tmp, where=~valid & top_mask)

    # s6: extrapolate, or mask out the region above the top again.
    top = _top_rows_np(d > VALID_THRESHOLD)
    if p.extrapolate:
        _extend_to_top_np(d, top)
        top_mask = np.ones(d.shape, dtype=bool)
    else:
        top_mask = rows >= top[None, :]
    # s7: repeated masked fills, median and blur of valid (unmasked) pixels.
    large_fill = _np_kernel(p.large_fill)
    for _ in range(p.large_fill_iterations):
        empty = (d < VALID_THRESHOLD) & top_mask
        cv2.dilate(d, large_fill, dst=tmp)
        np.copyto(d, tmp, where=empty)
    cv2.medianBlur(d, _MEDIAN_KSIZE, dst=tmp)
    valid = (d > VALID_THRESHOLD) & top_mask
    np.copyto(d, tmp, where=valid)
    if p.blur_type == 'gaussian':
        cv2.GaussianBlur(d, (5, 5), 0, dst=tmp)
        np.copyto(d, tmp, where=(d > VALID_THRESHOLD) & top_mask)
    else:
        # The reference reuses the mask computed before the median here.
        cv2.bilateralFilter(d, *_MULTISCALE_BILATERAL, dst=tmp)
        np.copyto(d, tmp, where=valid)
    _invert_inplace_np(d, p.max_depth)


_fill_in_fast_cv2_batch = _cv2_batched(_fill_in_fast_cv2, num_scratch=1)
_fill_in_multiscale_cv2_batch = _cv2_batched(_fill_in_multiscale_cv2, num_scratch=3)


# --------------------------------------------------------------------------------------
# torch backend: a whole (B, H, W) float32 batch at once
# --------------------------------------------------------------------------------------
def _invert_torch(x: Tensor, max_depth: float) -> Tensor:
    return torch.where(x > VALID_THRESHOLD, max_depth - x, x)


def _top_rows_torch(valid: Tensor) -> Tensor:
    """Row of each column's first valid pixel, 0 for a column with none ((B, 1, W) int64)."""
    height = valid.shape[1]
    rows = torch.arange(height, device=valid.device).view(1, height, 1)
    first = torch.where(valid, rows, height).amin(dim=1, keepdim=True)
    return torch.where(first == height, 0, first)


def _row_index(x: Tensor) -> Tensor:
    return torch.arange(x.shape[1], device=x.device).view(1, -1, 1)


def _extend_to_top_torch(x: Tensor, top: Tensor) -> Tensor:
    """``x[b, :top[b, c], c] = x[b, top[b, c], c]`` for every image ``b`` and column ``c``."""
    values = torch.gather(x, 1, top)
    return torch.where(_row_index(x) < top, values, x)


def _fill_where(x: Tensor, filler: Tensor, mask: Tensor) -> Tensor:
    return torch.where(mask, filler, x)


def _fill_in_fast_torch(x: Tensor, p: _FastParams) -> Tensor:
    """:func:`fill_in_fast` on a (B, H, W) float32 batch with torch ops."""
    d = _invert_torch(x, p.max_depth)
    d = tf.dilate(d, p.dilation)
    d = tf.morph_close(d, p.closing)
    d = _fill_where(d, tf.dilate(d, p.fill), d < VALID_THRESHOLD)
    if p.extrapolate:
        d = _extend_to_top_torch(d, _top_rows_torch(d > VALID_THRESHOLD))
        d = _fill_where(d, tf.dilate(d, p.extrapolation), d < VALID_THRESHOLD)
    d = tf.median_blur(d, _MEDIAN_KSIZE)
    if p.blur_type == 'bilateral':
        d = tf.bilateral_filter(d, *_FAST_BILATERAL, support=p.bilateral)
    else:
        d = _fill_where(d, tf.gaussian_blur5(d), d > VALID_THRESHOLD)
    return _invert_torch(d, p.max_depth)


def _fill_in_multiscale_torch(x: Tensor, p: _MultiscaleParams) -> Tensor:
    """:func:`fill_in_multiscale` on a (B, H, W) float32 batch with torch ops."""
    valid_near = (x > VALID_THRESHOLD) & (x <= p.near_max)
    valid_med = (x > p.near_max) & (x <= p.med_max)
    valid_far = x > p.med_max
    s1 = _invert_torch(x, p.max_depth)

    s2 = s1
    for mask, kernel in ((valid_far, p.far), (valid_med, p.med), (valid_near, p.near)):
        dilated = tf.dilate(torch.where(mask, s1, 0.0), kernel)
        s2 = _fill_where(s2, dilated, dilated > VALID_THRESHOLD)

    s3 = tf.morph_close(s2, p.closing)
    s4 = _fill_where(s3, tf.median_blur(s3, _MEDIAN_KSIZE), s3 > VALID_THRESHOLD)

    rows = _row_index(x)
    valid = s4 > VALID_THRESHOLD
    top_mask = rows >= _top_rows_torch(valid)
    s5 = _fill_where(s4, tf.dilate(s4, p.hole_fill), ~valid & top_mask)

    top = _top_rows_torch(s5 > VALID_THRESHOLD)
    if p.extrapolate:
        s7 = _extend_to_top_torch(s5, top)
        top_mask = torch.ones_like(top_mask)
    else:
        s7 = s5
        top_mask = rows >= top
    for _ in range(p.large_fill_iterations):
        s7 = _fill_where(s7, tf.dilate(s7, p.large_fill), (s7 < VALID_THRESHOLD) & top_mask)

    valid = (s7 > VALID_THRESHOLD) & top_mask
    s7 = _fill_where(s7, tf.median_blur(s7, _MEDIAN_KSIZE), valid)
    if p.blur_type == 'gaussian':
        s7 = _fill_where(s7, tf.gaussian_blur5(s7), (s7 > VALID_THRESHOLD) & top_mask)
    else:
        s7 = _fill_where(s7, tf.bilateral_filter(s7, *_MULTISCALE_BILATERAL,
                                                 support=p.bilateral), valid)
    return _invert_torch(s7, p.max_depth)


# --------------------------------------------------------------------------------------
# CUDA backend: s3pt_mm/ops/csrc/cuda/fill_in_fast_cuda.cu on a (B, H, W) batch
# --------------------------------------------------------------------------------------
def _fill_in_fast_cuda(x: Tensor, p: _FastParams) -> Tensor:
    """:func:`fill_in_fast` on a (B, H, W) float32 CUDA batch with the compiled kernels."""
    op = ext_loader.get_op(_CUDA_OPS['fill_in_fast'])
    return op(x.contiguous(), *_fill_in_fast_kernel_args(p))


def _fill_in_fast_kernel_args(p: _FastParams) -> tuple:
    """``fill_in_fast_forward``'s arguments after the depth map (its schema's order)."""
    _, sigma_color, sigma_space = _FAST_BILATERAL
    taps = p.bilateral.offsets
    return (p.max_depth, p.extrapolate, p.blur_type == 'gaussian',
            [p.dilation.height, p.dilation.width],
            [v for rect in p.dilation.rects for v in rect],
            p.closing.height, p.fill.height, p.extrapolation.height,
            [v for dy, dx, _ in taps for v in (dy, dx)], [w for _, _, w in taps],
            -0.5 / (sigma_color * sigma_color), sigma_color <= 1e-6 or sigma_space <= 1e-6)
