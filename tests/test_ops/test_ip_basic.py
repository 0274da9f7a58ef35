"""fill_in_fast / fill_in_multiscale against an OpenCV reference of IP-Basic (Ku et al. 2018).

The reference (``s3pt_mm/testing/ip_basic_reference.py``) follows the algorithm of the paper /
its public reference code step by step, in its style (float32 map, boolean-mask writes, a Python
loop over columns for the extrapolation). ``benchmarks/depth.py`` times the same reference.
"""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

cv2 = pytest.importorskip('cv2')

from s3pt_mm.ops import fill_in_fast, fill_in_multiscale, project_points_to_depth  # noqa: E402

from s3pt_mm.testing.ip_basic_reference import (ref_cross, ref_full,  # noqa: E402
                                                 reference_fill_in_fast,
                                                 reference_fill_in_multiscale)

TOL = 1e-3  # metres, at every pixel

REFERENCES = {fill_in_fast: reference_fill_in_fast,
              fill_in_multiscale: reference_fill_in_multiscale}

# ---------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------
CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


def synthetic_sparse_depth(seed, height=180, width=320):
    """Planes seen by a level camera, sampled on a 32-beam-like LiDAR pattern.

    Ground plane 1.6 m below the camera, a far wall (60-130 m: beyond max_depth too), two
    fronto-parallel boxes (8 m, 22 m) and a slanted facade; 32 beam rows spread over
    -25 .. +8 deg elevation, an azimuth step of 2-4 px with dropped returns, a few stray
    sub-threshold values (0 < d <= 0.1) that IP-Basic treats as empty.
    """
    rng = np.random.default_rng(seed)
    f = 0.6 * width
    cy = height / 2 + rng.uniform(-3, 3)  # horizon row
    vv, uu = np.mgrid[0:height, 0:width].astype(np.float64)
    dense = np.full((height, width), np.inf)
    below = vv > cy
    dense[below] = f * 1.6 / (vv[below] - cy)  # ground: y = 1.6 m
    dense = np.minimum(dense, rng.uniform(60, 130))  # far wall
    for depth_m in (rng.uniform(6, 10), rng.uniform(18, 26)):
        x0 = rng.integers(0, width - width // 4)
        box = (uu > x0) & (uu < x0 + width // 5) & (vv > cy - height // 5)
        dense[box] = np.minimum(dense[box], depth_m)
    facade = 12.0 + 0.08 * (uu - width * 0.75)  # slanted wall on the right
    right = (uu > width * 0.75) & (vv > height * 0.15)
    dense[right] = np.minimum(dense[right], facade[right])
    elevations = np.deg2rad(np.linspace(-25, 8, 32))
    rows = np.round(cy - f * np.tan(elevations)).astype(int)
    rows = rows[(rows >= 0) & (rows < height)]
    sparse = np.zeros((height, width), np.float32)
    for r in rows:
        cols = np.arange(rng.integers(0, 3), width, rng.integers(2, 5))
        cols = cols[rng.random(cols.size) > 0.1]
        sparse[r, cols] = dense[r, cols] + rng.normal(0, 0.02, cols.size)
    stray = rng.integers(0, height * width, 20)
    sparse.reshape(-1)[stray] = rng.uniform(0.01, 0.1, 20)
    return sparse


@pytest.fixture(scope='module')
def synthetic_maps():
    return [synthetic_sparse_depth(seed) for seed in range(3)]


@pytest.fixture(scope='module')
def real_maps(nuscenes_sample_dir):
    """The keyframe's sweep projected into its six cameras: (6, 900, 1600) float32."""
    info = pickle.load(open(nuscenes_sample_dir / 'n015-2018-07-24-11-22-45+0800.pkl',
                            'rb'))['data_list'][0]
    points = np.fromfile(nuscenes_sample_dir / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    lidar2cam = np.stack([info['images'][c]['lidar2cam'] for c in CAMERAS])
    cam2img = np.stack([info['images'][c]['cam2img'] for c in CAMERAS])
    return project_points_to_depth(points, lidar2cam, cam2img, (900, 1600))


@pytest.fixture(scope='module')
def real_expected(real_maps):
    """The reference's (6, H, W) result per mode, computed once per module."""
    cache = {}

    def get(fn, extrapolate, blur):
        key = (fn.__name__, extrapolate, blur)
        if key not in cache:
            cache[key] = np.stack([REFERENCES[fn](m, extrapolate=extrapolate, blur_type=blur)
                                   for m in real_maps])
        return cache[key]

    return get


@pytest.fixture(scope='module')
def kitti_map(kitti_sample_dir):
    cam = pickle.load(open(kitti_sample_dir / '000008.pkl', 'rb'))['data_list'][0]['images'][
        'CAM2']
    points = np.fromfile(kitti_sample_dir / '000008.bin', dtype=np.float32).reshape(-1, 4)
    return project_points_to_depth(points, cam['lidar2cam'], cam['cam2img'],
                                   (cam['height'], cam['width']))


@pytest.fixture
def one_thread():
    """torch's CPU ops on 1 thread (OpenMP on 2 busy cores is slower than 1 thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


MODES = [(fn, extrapolate, blur) for fn in (fill_in_fast, fill_in_multiscale)
         for extrapolate in (False, True) for blur in ('bilateral', 'gaussian')]
MODE_IDS = [f'{fn.__name__}-{"extrap" if e else "noextrap"}-{b}' for fn, e, b in MODES]


def _max_diff(a, b):
    a = a.cpu().numpy() if isinstance(a, torch.Tensor) else a
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max())


# ---------------------------------------------------------------------------------------
# Exactness
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_numpy_matches_reference_on_real_keyframe(real_maps, real_expected, fn, extrapolate,
                                                  blur):
    """numpy (cv2 backend), all six cameras: identical to the reference, pixel for pixel."""
    for cam, sparse, expected in zip(CAMERAS, real_maps, real_expected(fn, extrapolate, blur)):
        got = fn(sparse, extrapolate=extrapolate, blur_type=blur)
        assert isinstance(got, np.ndarray) and got.dtype == np.float32
        assert _max_diff(got, expected) <= TOL, cam
        np.testing.assert_array_equal(got, expected, err_msg=cam)


@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_torch_cpu_batch_matches_reference_on_real_keyframe(real_maps, real_expected, fn,
                                                            extrapolate, blur):
    """A (6, H, W) CPU tensor (auto backend = cv2 per image) equals the reference per camera."""
    got = fn(torch.from_numpy(real_maps), extrapolate=extrapolate, blur_type=blur)
    assert isinstance(got, torch.Tensor) and got.shape == (6, 900, 1600)
    for i, expected in enumerate(real_expected(fn, extrapolate, blur)):
        assert _max_diff(got[i], expected) <= TOL, CAMERAS[i]


@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_torch_backend_matches_reference_on_synthetic(synthetic_maps, one_thread, fn,
                                                      extrapolate, blur):
    """The pure-torch path (what runs on GPU), batched, on the procedural scenes."""
    batch = torch.from_numpy(np.stack(synthetic_maps))
    got = fn(batch, extrapolate=extrapolate, blur_type=blur, backend='torch')
    for i, sparse in enumerate(synthetic_maps):
        expected = REFERENCES[fn](sparse, extrapolate=extrapolate, blur_type=blur)
        assert _max_diff(got[i], expected) <= TOL
        # Morphology and medians are exact; only the blurs may differ by float32 rounding.
        assert (expected > 0.1).sum() == (got[i].numpy() > 0.1).sum()
    np.testing.assert_array_equal(
        fn(synthetic_maps[0], extrapolate=extrapolate, blur_type=blur),
        REFERENCES[fn](synthetic_maps[0], extrapolate=extrapolate, blur_type=blur))


@pytest.mark.parametrize('fn', [fill_in_fast, fill_in_multiscale])
def test_torch_backend_matches_reference_on_real_cam_front(real_maps, real_expected, one_thread,
                                                           fn):
    """Pure torch on the real CAM_FRONT, the pipeline's setting (bilateral, extrapolate)."""
    got = fn(torch.from_numpy(real_maps[0]), extrapolate=True, backend='torch')
    assert _max_diff(got, real_expected(fn, True, 'bilateral')[0]) <= TOL


@pytest.mark.slow
@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_torch_backend_matches_reference_on_real_keyframe(real_maps, real_expected, one_thread,
                                                          fn, extrapolate, blur):
    got = fn(torch.from_numpy(real_maps), extrapolate=extrapolate, blur_type=blur,
             backend='torch')
    for i, expected in enumerate(real_expected(fn, extrapolate, blur)):
        assert _max_diff(got[i], expected) <= TOL, CAMERAS[i]


@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_generated_synthetic_scene(synthetic_scene, one_thread, fn, extrapolate, blur):
    """tools/create_synthetic_nuscenes.py's scenes (400 x 225): numpy equals the reference,
    the batched torch path is within TOL, and the completion is close to the exact depth
    where the LiDAR is dense enough (< 20 m)."""
    points, cameras = synthetic_scene
    sparse = np.stack([project_points_to_depth(points, l2c, k, gt.shape)
                       for _, l2c, k, gt in cameras])
    kwargs = dict(extrapolate=extrapolate, blur_type=blur)
    expected = np.stack([REFERENCES[fn](m, **kwargs) for m in sparse])
    np.testing.assert_array_equal(fn(sparse, **kwargs), expected)
    assert _max_diff(fn(torch.from_numpy(sparse), backend='torch', **kwargs), expected) <= TOL
    gt = np.stack([c[3] for c in cameras])
    near = (gt > 0) & (gt < 20) & (expected > 0.1)
    assert near.sum() > 50_000
    assert np.median(np.abs(expected[near] - gt[near])) < 0.1


@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_kitti_frame(kitti_map, fn, extrapolate, blur):
    """The KITTI frame IP-Basic was tuned on (64 beams): numpy and CPU tensor."""
    expected = REFERENCES[fn](kitti_map, extrapolate=extrapolate, blur_type=blur)
    np.testing.assert_array_equal(fn(kitti_map, extrapolate=extrapolate, blur_type=blur),
                                  expected)
    got = fn(torch.from_numpy(kitti_map), extrapolate=extrapolate, blur_type=blur)
    assert _max_diff(got, expected) <= TOL


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
@pytest.mark.parametrize('backend', ['torch', 'torch_compile'])
@pytest.mark.parametrize('fn, extrapolate, blur', MODES, ids=MODE_IDS)
def test_cuda_matches_reference_on_real_keyframe(real_maps, real_expected, fn, extrapolate,
                                                 blur, backend):
    got = fn(torch.from_numpy(real_maps).cuda(), extrapolate=extrapolate, blur_type=blur,
             backend=backend)
    assert got.is_cuda and got.shape == (6, 900, 1600)
    for i, expected in enumerate(real_expected(fn, extrapolate, blur)):
        assert _max_diff(got[i], expected) <= TOL, CAMERAS[i]


@pytest.mark.slow
@pytest.mark.parametrize('fn', [fill_in_fast, fill_in_multiscale])
def test_torch_compile_matches_eager(synthetic_maps, one_thread, fn):
    """torch.compile'd pipeline (CPU inductor here, ~1 min to compile): within TOL of the
    reference, and a few float32 ulps (fused exp / sums) of eager torch."""
    x = torch.from_numpy(synthetic_maps[1])
    eager = fn(x, extrapolate=True, backend='torch')
    compiled = fn(x, extrapolate=True, backend='torch_compile')
    assert _max_diff(compiled, REFERENCES[fn](synthetic_maps[1], extrapolate=True)) <= TOL
    assert _max_diff(compiled, eager.numpy()) <= 1e-4


def test_custom_kernel_sizes(synthetic_maps, one_thread):
    """Non-default kernels reach every step, in both backends."""
    sparse = synthetic_maps[2]
    diamond7 = ref_full(7) * 0
    for r in range(7):
        diamond7[r, abs(3 - r):7 - abs(3 - r)] = 1
    expected = reference_fill_in_fast(sparse, max_depth=90.0, extrapolate=True,
                                      dilation_kernel=diamond7, closing=3, fill=9,
                                      extrapolation=15)
    kwargs = dict(max_depth=90.0, extrapolate=True, dilation_kernel=diamond7,
                  closing_kernel_size=3, fill_kernel_size=9, extrapolation_kernel_size=15)
    np.testing.assert_array_equal(fill_in_fast(sparse, **kwargs), expected)
    assert _max_diff(fill_in_fast(torch.from_numpy(sparse), backend='torch', **kwargs),
                     expected) <= TOL
    assert not np.array_equal(expected, reference_fill_in_fast(sparse, extrapolate=True))

    expected = reference_fill_in_multiscale(
        sparse, blur_type='gaussian', far_kernel=ref_full(3), med_kernel=ref_cross(7),
        near_kernel=diamond7, bin_edges=(10.0, 40.0), closing=7, hole_fill=5, large_fill=3,
        iterations=2)
    kwargs = dict(blur_type='gaussian', dilation_kernel_far=ref_full(3),
                  dilation_kernel_med=ref_cross(7), dilation_kernel_near=diamond7,
                  bin_edges=(10.0, 40.0), closing_kernel_size=7, hole_fill_kernel_size=5,
                  large_fill_kernel_size=3, large_fill_iterations=2)
    np.testing.assert_array_equal(fill_in_multiscale(sparse, **kwargs), expected)
    assert _max_diff(fill_in_multiscale(torch.from_numpy(sparse), backend='torch', **kwargs),
                     expected) <= TOL
    assert not np.array_equal(expected, reference_fill_in_multiscale(sparse,
                                                                     blur_type='gaussian'))


# ---------------------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------------------
def test_real_cam_front_fill_fractions(real_maps, real_expected):
    """Spec section 4's measured shares on the real CAM_FRONT (20 %, 7 %, 99 %)."""
    sparse = real_maps[0]
    assert np.count_nonzero(sparse) == 3059  # 3,064 in the spec: truncated u, v
    share = {(fn.__name__, e): float((fn(sparse, extrapolate=e) > 0.1).mean())
             for fn in (fill_in_fast, fill_in_multiscale) for e in (False, True)}
    assert share[('fill_in_fast', False)] == pytest.approx(0.20, abs=0.01)
    assert share[('fill_in_multiscale', False)] == pytest.approx(0.07, abs=0.01)
    assert share[('fill_in_fast', True)] == pytest.approx(0.99, abs=0.01)
    # The spec gives no number for this one: multiscale's 6 small fills leave large holes.
    assert share[('fill_in_multiscale', True)] == float(
        (real_expected(fill_in_multiscale, True, 'bilateral')[0] > 0.1).mean())


def test_completed_depth_stays_close_to_lidar(synthetic_maps):
    """At LiDAR pixels the completed depth stays near the measurement (IP-Basic only
    smooths there), and extrapolation fills the whole synthetic image."""
    sparse = synthetic_maps[0]
    lidar = (sparse > 0.1) & (sparse < 50)
    dense = fill_in_fast(sparse, extrapolate=True)
    assert (dense > 0.1).mean() == 1.0
    assert np.median(np.abs(dense[lidar] - sparse[lidar])) < 0.1


@pytest.mark.parametrize('use_ipp', [True, False], ids=['ipp', 'no_ipp'])
@pytest.mark.parametrize('rows', [(40, 46), (0, 3), (115, 120), (10, 110)])
def test_fast_row_band_edges(rows, use_ipp):
    """fill_in_fast without extrapolation filters only the rows near non-zero input; check
    bands touching the top / bottom / no border, with depths beyond max_depth (negative
    after inversion) and sub-threshold values, under both OpenCV bilateral paths."""
    rng = np.random.default_rng(rows[0])
    sparse = np.zeros((120, 150), np.float32)
    band = sparse[rows[0]:rows[1]]
    hit = rng.random(band.shape) < 0.3
    band[hit] = rng.uniform(0.5, 140.0, hit.sum())  # beyond 100 m too
    band[rng.random(band.shape) < 0.02] = 0.05
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(use_ipp)
    try:
        for blur in ('bilateral', 'gaussian'):
            np.testing.assert_array_equal(fill_in_fast(sparse, blur_type=blur),
                                          reference_fill_in_fast(sparse, blur_type=blur))
            assert _max_diff(fill_in_fast(torch.from_numpy(sparse), blur_type=blur,
                                          backend='torch'),
                             reference_fill_in_fast(sparse, blur_type=blur)) <= TOL
    finally:
        cv2.ipp.setUseIPP(before)


@pytest.mark.parametrize('fn', [fill_in_fast, fill_in_multiscale])
def test_input_is_not_modified(synthetic_maps, fn):
    sparse = synthetic_maps[0].copy()
    tensor = torch.from_numpy(sparse.copy())
    for backend in ('cv2', 'torch'):
        fn(sparse, extrapolate=True, backend=backend)
        fn(tensor, extrapolate=True, backend=backend)
    np.testing.assert_array_equal(sparse, synthetic_maps[0])
    np.testing.assert_array_equal(tensor.numpy(), synthetic_maps[0])


@pytest.mark.parametrize('fn', [fill_in_fast, fill_in_multiscale])
def test_types_batches_and_dtypes(synthetic_maps, fn):
    """Output type/dtype/shape follow the input; batches equal per-image calls."""
    stack = np.stack(synthetic_maps[:2])
    per_image = np.stack([fn(m) for m in stack])
    np.testing.assert_array_equal(fn(stack), per_image)
    out64 = fn(stack.astype(np.float64))
    assert out64.dtype == np.float64
    np.testing.assert_array_equal(out64, per_image.astype(np.float64))
    t = fn(torch.from_numpy(stack).double())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_array_equal(t.numpy(), per_image.astype(np.float64))
    t = fn(torch.from_numpy(stack)[:, ::2, ::2])  # non-contiguous view
    np.testing.assert_array_equal(t.numpy(), np.stack([fn(m[::2, ::2].copy()) for m in stack]))
    assert fn(np.zeros((0, 4, 5), np.float32)).shape == (0, 4, 5)


@pytest.mark.parametrize('fn', [fill_in_fast, fill_in_multiscale])
@pytest.mark.parametrize('backend', ['cv2', 'torch'])
def test_empty_map_stays_empty(fn, backend):
    """No LiDAR pixel: documented result is an all-zero map (nothing to complete)."""
    for extrapolate in (False, True):
        out = fn(np.zeros((30, 40), np.float32), extrapolate=extrapolate, backend=backend)
        assert not out.any()


@pytest.mark.parametrize('depth, message', [
    (np.full((4, 5), np.nan, np.float32), 'NaN or inf'),
    (np.array([[1.0, np.inf]], np.float32), 'NaN or inf'),
    (np.ones((4, 5), np.uint16), 'floating-point array.*uint16'),
    (torch.ones(4, 5, dtype=torch.int32), 'floating-point tensor.*int32'),
    (np.ones((1, 2, 4, 5), np.float32), r'\(H, W\) or \(B, H, W\).*\(1, 2, 4, 5\)'),
    (np.ones(5, np.float32), r'\(H, W\) or \(B, H, W\)'),
    (np.ones((0, 5), np.float32), 'H, W >= 1'),
    ([[1.0, 2.0]], 'numpy array or a torch tensor'),
])
def test_bad_depth_raises(depth, message):
    for fn in (fill_in_fast, fill_in_multiscale):
        with pytest.raises(ValueError, match=message):
            fn(depth)


@pytest.mark.parametrize('kwargs, message', [
    (dict(blur_type='median'), "blur_type must be one of.*'median'"),
    (dict(backend='opencl'), "backend must be one of.*'opencl'"),
    (dict(max_depth=float('nan')), 'max_depth must be finite'),
    (dict(closing_kernel_size=0), 'closing_kernel_size must be a positive integer'),
    (dict(fill_kernel_size=2.5), 'fill_kernel_size must be a positive integer'),
    (dict(extrapolation_kernel_size=-1), 'extrapolation_kernel_size must be a positive'),
    (dict(dilation_kernel=np.ones(5)), 'non-empty 2-D array, got shape \\(5,\\)'),
])
def test_bad_fast_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fill_in_fast(np.zeros((8, 8), np.float32), **kwargs)


@pytest.mark.parametrize('kwargs, message', [
    (dict(bin_edges=(30.0, 15.0)), 'bin_edges must satisfy'),
    (dict(large_fill_iterations=-1), 'large_fill_iterations must be an integer >= 0'),
    (dict(hole_fill_kernel_size=0), 'hole_fill_kernel_size must be a positive integer'),
    (dict(dilation_kernel_near=np.zeros((0, 3))), 'non-empty 2-D array'),
])
def test_bad_multiscale_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fill_in_multiscale(np.zeros((8, 8), np.float32), **kwargs)


def test_reference_is_ip_basic_on_a_toy_map():
    """Sanity of the reference on a hand-derived case: one point at 10 m (inverted: 90).

    Diamond dilation gives the radius-2 diamond, which a 5x5 closing keeps; the 7x7 fill
    grows it to the octagon |dy|, |dx| <= 5, |dy| + |dx| <= 8; the 5x5 median keeps a pixel
    when >= 13 of its 25 window pixels are in the octagon: (5, 10) has 15 -> kept, (6, 6) has
    13 -> kept, (5, 5) has 6 -> dropped, (10, 16) has 10 -> dropped (pixel (row, col), the
    point at (10, 10)).
    The bilateral filter gives the 0 / 90 edge a zero colour weight, so the patch stays 10 m.
    """
    sparse = np.zeros((21, 21), np.float32)
    sparse[10, 10] = 10.0
    dense = reference_fill_in_fast(sparse)
    filled = dense > 0.1
    np.testing.assert_array_equal(np.argwhere(filled).min(0), [5, 5])
    np.testing.assert_array_equal(np.argwhere(filled).max(0), [15, 15])
    assert filled[6, 6] and filled[5, 10] and not filled[5, 5] and not filled[10, 16]
    np.testing.assert_allclose(dense[filled], 10.0, atol=1e-5)
    np.testing.assert_array_equal(filled, filled.T)
    np.testing.assert_array_equal(fill_in_fast(sparse), dense)


def test_reference_source_path():
    """benchmarks/depth.py imports this file by path: keep the name it expects."""
    assert Path(__file__).name == 'test_ip_basic.py'
