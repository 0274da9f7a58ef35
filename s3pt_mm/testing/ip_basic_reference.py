"""The OpenCV reference of IP-Basic depth completion (Ku et al. 2018), for tests and benchmarks.

``s3pt_mm.ops.ip_basic`` must reproduce these two functions (tests/test_ops/test_ip_basic.py);
``benchmarks/depth.py`` times ours against them. They follow the algorithm of the paper and its
public reference code (``ip_basic/depth_map_utils.py``) step by step, in its style: a float32
map, boolean-mask writes, a Python loop over columns for the extrapolation, and OpenCV calls
throughout. Slow by design; never used by the package itself.
"""
import numpy as np

try:
    import cv2
except ImportError as err:  # pragma: no cover - opencv is a dependency of mmcv
    raise ImportError('s3pt_mm.testing.ip_basic_reference needs OpenCV (opencv-python)') from err

__all__ = ['REF_DIAMOND_5', 'ref_cross', 'ref_full', 'reference_fill_in_fast',
           'reference_fill_in_multiscale']

REF_DIAMOND_5 = np.array([[0, 0, 1, 0, 0],
                          [0, 1, 1, 1, 0],
                          [1, 1, 1, 1, 1],
                          [0, 1, 1, 1, 0],
                          [0, 0, 1, 0, 0]], np.uint8)


def ref_cross(size):
    """A ``(size, size)`` uint8 cross (middle row and column set)."""
    k = np.zeros((size, size), np.uint8)
    k[size // 2] = 1
    k[:, size // 2] = 1
    return k


def ref_full(size):
    """A ``(size, size)`` uint8 block of ones."""
    return np.ones((size, size), np.uint8)


def ref_extend_columns_to_top(d):
    """Copy each column's topmost value > 0.1 to the rows above it (in place)."""
    for col in range(d.shape[1]):
        rows = np.flatnonzero(d[:, col] > 0.1)
        if rows.size:
            d[:rows[0], col] = d[rows[0], col]


def ref_top_mask(d):
    """False above each column's topmost value > 0.1 (all True in a column without one)."""
    mask = np.ones(d.shape, bool)
    for col in range(d.shape[1]):
        rows = np.flatnonzero(d[:, col] > 0.1)
        if rows.size:
            mask[:rows[0], col] = False
    return mask


def reference_fill_in_fast(depth, max_depth=100.0, extrapolate=False, blur_type='bilateral',
                           dilation_kernel=REF_DIAMOND_5, closing=5, fill=7, extrapolation=31):
    """IP-Basic's ``fill_in_fast``: dilate, close, fill, (extrapolate), median, blur.

    Args:
        depth (np.ndarray): (H, W) sparse depth in metres, 0 where empty.
        max_depth (float): depths are inverted as ``max_depth - d`` during the morphology.
        extrapolate (bool): extend each column's top value to the image top, then fill.
        blur_type (str): ``'bilateral'`` (everywhere) or ``'gaussian'`` (valid pixels).
        dilation_kernel (np.ndarray): first dilation's structuring element.
        closing, fill, extrapolation (int): sizes of the full square kernels.

    Returns:
        np.ndarray: (H, W) float32 dense depth.
    """
    d = np.array(depth, dtype=np.float32)
    # 1. invert valid depths so that dilation (a max filter) favours near points
    valid = d > 0.1
    d[valid] = max_depth - d[valid]
    # 2. dilate, 3. close small holes, 4. fill remaining empty pixels from a larger dilation
    d = cv2.dilate(d, dilation_kernel)
    d = cv2.morphologyEx(d, cv2.MORPH_CLOSE, ref_full(closing))
    empty = d < 0.1
    d[empty] = cv2.dilate(d, ref_full(fill))[empty]
    # 5. optional extrapolation to the top of the image, then a large fill
    if extrapolate:
        ref_extend_columns_to_top(d)
        empty = d < 0.1
        d[empty] = cv2.dilate(d, ref_full(extrapolation))[empty]
    # 6. median blur, 7. bilateral (everywhere) or Gaussian (valid pixels) blur
    d = cv2.medianBlur(d, 5)
    if blur_type == 'bilateral':
        d = cv2.bilateralFilter(d, 5, 1.5, 2.0)
    else:
        valid = d > 0.1
        d[valid] = cv2.GaussianBlur(d, (5, 5), 0)[valid]
    # 8. invert back
    valid = d > 0.1
    d[valid] = max_depth - d[valid]
    return d


def reference_fill_in_multiscale(depth, max_depth=100.0, extrapolate=False,
                                 blur_type='bilateral', far_kernel=None, med_kernel=None,
                                 near_kernel=None, bin_edges=(15.0, 30.0), closing=5,
                                 hole_fill=9, large_fill=5, iterations=6):
    """IP-Basic's ``fill_in_multiscale``: per-distance-bin dilation, then hole and large fills.

    Args:
        depth (np.ndarray): (H, W) sparse depth in metres, 0 where empty.
        max_depth (float): depths are inverted as ``max_depth - d`` during the morphology.
        extrapolate (bool): extend each column's top value to the image top.
        blur_type (str): ``'bilateral'`` or ``'gaussian'``, on valid pixels below the top.
        far_kernel, med_kernel, near_kernel (np.ndarray | None): per-bin dilation elements
            (crosses of 3, 5, 7 by default) for depths > ``bin_edges[1]``, in between, and
            <= ``bin_edges[0]``.
        bin_edges (tuple): the two distance edges in metres.
        closing, hole_fill, large_fill (int): sizes of the full square kernels.
        iterations (int): rounds of the large fill.

    Returns:
        np.ndarray: (H, W) float32 dense depth.
    """
    far_kernel = ref_cross(3) if far_kernel is None else far_kernel
    med_kernel = ref_cross(5) if med_kernel is None else med_kernel
    near_kernel = ref_cross(7) if near_kernel is None else near_kernel
    d0 = np.array(depth, dtype=np.float32)
    near = (d0 > 0.1) & (d0 <= bin_edges[0])
    med = (d0 > bin_edges[0]) & (d0 <= bin_edges[1])
    far = d0 > bin_edges[1]
    s1 = d0.copy()
    valid = s1 > 0.1
    s1[valid] = max_depth - s1[valid]
    # per-bin dilation, overwritten far -> med -> near
    s2 = s1.copy()
    for mask, kernel in ((far, far_kernel), (med, med_kernel), (near, near_kernel)):
        dilated = cv2.dilate(np.multiply(s1, mask), kernel)
        hit = dilated > 0.1
        s2[hit] = dilated[hit]
    s3 = cv2.morphologyEx(s2, cv2.MORPH_CLOSE, ref_full(closing))
    s4 = s3.copy()
    valid = s3 > 0.1
    s4[valid] = cv2.medianBlur(s3, 5)[valid]
    # hole fill below each column's top
    empty = ~(s4 > 0.1) & ref_top_mask(s4)
    s5 = s4.copy()
    s5[empty] = cv2.dilate(s4, ref_full(hole_fill))[empty]
    s6 = s5.copy()
    if extrapolate:
        ref_extend_columns_to_top(s6)
        top_mask = np.ones(s6.shape, bool)
    else:
        top_mask = ref_top_mask(s5)
    s7 = s6.copy()
    for _ in range(iterations):
        empty = (s7 < 0.1) & top_mask
        s7[empty] = cv2.dilate(s7, ref_full(large_fill))[empty]
    blurred = cv2.medianBlur(s7, 5)
    valid = (s7 > 0.1) & top_mask
    s7[valid] = blurred[valid]
    if blur_type == 'gaussian':
        blurred = cv2.GaussianBlur(s7, (5, 5), 0)
        valid = (s7 > 0.1) & top_mask
        s7[valid] = blurred[valid]
    else:
        s7[valid] = cv2.bilateralFilter(s7, 5, 0.5, 2.0)[valid]
    s8 = s7.copy()
    valid = s8 > 0.1
    s8[valid] = max_depth - s8[valid]
    return s8
