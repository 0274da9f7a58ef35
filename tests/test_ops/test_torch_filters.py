"""torch_filters: each torch filter against the OpenCV call it reproduces, borders included."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from s3pt_mm.ops import torch_filters as tf

cv2 = pytest.importorskip('cv2')


def _images(seed, shape=(3, 23, 31), sparse=False):
    """Depth-like float32 maps: values in [0, 100), ties, and (optionally) mostly zeros."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 100, shape).astype(np.float32)
    x[rng.random(shape) < 0.2] = np.round(x[rng.random(shape) < 0.2].mean())  # ties
    if sparse:
        x[rng.random(shape) < 0.9] = 0
    return x


def _per_image(fn, x):
    return np.stack([fn(img) for img in x])


KERNELS = {
    'full5': np.ones((5, 5), np.uint8),
    'diamond5': (np.abs(np.mgrid[-2:3, -2:3]).sum(0) <= 2).astype(np.uint8),
    'cross7': np.eye(7, dtype=np.uint8)[3][None].repeat(7, 0) | np.eye(7, dtype=np.uint8)[3][:,
                                                                                           None],
    'full31': np.ones((31, 31), np.uint8),
    'even4x6': np.random.default_rng(0).integers(0, 2, (4, 6)).astype(np.uint8),
    'hollow': np.pad(np.zeros((1, 1), np.uint8), 1, constant_values=1),  # centre not included
}


@pytest.mark.parametrize('name', list(KERNELS))
@pytest.mark.parametrize('sparse', [False, True])
def test_morphology_equals_cv2(name, sparse):
    """dilate / erode / close: bit-identical to cv2 with its default border handling."""
    kernel = KERNELS[name]
    x = _images(1, sparse=sparse)
    t = torch.from_numpy(x)
    np.testing.assert_array_equal(tf.dilate(t, kernel).numpy(),
                                  _per_image(lambda i: cv2.dilate(i, kernel), x))
    np.testing.assert_array_equal(tf.erode(t, kernel).numpy(),
                                  _per_image(lambda i: cv2.erode(i, kernel), x))
    np.testing.assert_array_equal(
        tf.morph_close(t, kernel).numpy(),
        _per_image(lambda i: cv2.morphologyEx(i, cv2.MORPH_CLOSE, kernel), x))


def test_morph_kernel_decomposition():
    """Rectangles cover exactly the kernel's ones, and few of them (the point of it)."""
    for name, kernel in KERNELS.items():
        plan = tf.morph_kernel(kernel)
        cover = np.zeros(kernel.shape, bool)
        for y0, y1, x0, x1 in plan.rects:
            assert kernel[y0:y1 + 1, x0:x1 + 1].all(), name
            cover[y0:y1 + 1, x0:x1 + 1] = True
        np.testing.assert_array_equal(cover, kernel != 0, err_msg=name)
    assert len(tf.morph_kernel(KERNELS['diamond5']).rects) == 3
    assert len(tf.morph_kernel(KERNELS['cross7']).rects) == 2
    assert tf.morph_kernel(KERNELS['full31']) == tf.full_kernel(31)


@pytest.mark.parametrize('ksize', [3, 5])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_median_equals_cv2_and_sort(ksize, seed):
    """Exact: equals cv2.medianBlur (replicated border) and a sort-based median."""
    x = _images(seed, sparse=seed == 2)
    got = tf.median_blur(torch.from_numpy(x), ksize)
    np.testing.assert_array_equal(got.numpy(), _per_image(lambda i: cv2.medianBlur(i, ksize), x))
    r = ksize // 2
    padded = F.pad(torch.from_numpy(x)[:, None], (r, r, r, r), mode='replicate')[:, 0]
    windows = padded.unfold(1, ksize, 1).unfold(2, ksize, 1).reshape(*x.shape, -1)
    assert torch.equal(got, windows.sort(dim=-1).values[..., ksize * ksize // 2])


def test_median_network_sizes():
    """Column sort + pruned Batcher merge: fewer min/max than the 202 of a padded 32-sort."""
    col_ops, _, merge_ops, _ = tf._median_network(5)
    assert len(col_ops) + len(merge_ops) == 18 + 152
    with pytest.raises(ValueError, match='ksize 3 or 5'):
        tf.median_blur(torch.zeros(1, 4, 4), 7)


def test_gaussian_equals_cv2():
    x = _images(3)
    got = tf.gaussian_blur5(torch.from_numpy(x)).numpy()
    expected = _per_image(lambda i: cv2.GaussianBlur(i, (5, 5), 0), x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)  # float32 rounding at 100


@pytest.fixture(params=[True, False], ids=['ipp', 'no_ipp'])
def opencv_path(request):
    """Run cv2 with its IPP float bilateral (x86 wheels' default) or its own LUT path."""
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(request.param)
    yield request.param
    cv2.ipp.setUseIPP(before)


@pytest.mark.parametrize('d, sigma_color, sigma_space', [(5, 1.5, 2.0), (5, 0.5, 2.0),
                                                         (7, 10.0, 3.0), (0, 5.0, 1.0),
                                                         (3, 40.0, 1.5)])
@pytest.mark.parametrize('sparse', [False, True])
def test_bilateral_equals_cv2(opencv_path, d, sigma_color, sigma_space, sparse):
    """Exact exponential vs cv2 with IPP, look-up table vs cv2 without: float32 rounding."""
    x = _images(4, shape=(2, 40, 57), sparse=sparse)
    x[1] *= 0.05  # a second image with another range: the LUT is per image
    got = tf.bilateral_filter(torch.from_numpy(x), d, sigma_color, sigma_space,
                              colour_lut=not opencv_path).numpy()
    expected = _per_image(lambda i: cv2.bilateralFilter(i, d, sigma_color, sigma_space), x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=4e-5)  # ulp(100) = 7.6e-6


@pytest.mark.parametrize('sigma_color', [1.5, 0.5])
def test_bilateral_opencv_paths_differ_at_ip_basic_sigmas(sigma_color):
    """The check above has teeth at IP-Basic's sigmas: OpenCV's two paths differ by more
    than its tolerance (the table's interpolation error), and each torch mode picks one."""
    x = _images(4, shape=(2, 40, 57))
    before = cv2.ipp.useIPP()
    try:
        cv2.ipp.setUseIPP(True)
        with_ipp = _per_image(lambda i: cv2.bilateralFilter(i, 5, sigma_color, 2.0), x)
        cv2.ipp.setUseIPP(False)
        without = _per_image(lambda i: cv2.bilateralFilter(i, 5, sigma_color, 2.0), x)
    finally:
        cv2.ipp.setUseIPP(before)
    if not cv2.ipp.useIPP():
        pytest.skip('this OpenCV build has no IPP: only the look-up-table path exists')
    assert np.abs(with_ipp - without).max() > 8e-5
    t = torch.from_numpy(x)
    exact = tf.bilateral_filter(t, 5, sigma_color, 2.0).numpy()
    lut = tf.bilateral_filter(t, 5, sigma_color, 2.0, colour_lut=True).numpy()
    assert np.abs(exact - with_ipp).max() < np.abs(exact - without).max()
    assert np.abs(lut - without).max() < np.abs(lut - with_ipp).max()


def test_bilateral_constant_image_is_unchanged():
    """A constant image stays constant (OpenCV's table path copies it), per image."""
    x = np.stack([np.full((9, 11), 42.0, np.float32), _images(6, shape=(9, 11))])
    for colour_lut in (False, True):
        got = tf.bilateral_filter(torch.from_numpy(x), 5, 1.5, 2.0, colour_lut=colour_lut)
        np.testing.assert_allclose(got[0].numpy(), x[0], rtol=1e-6)
        np.testing.assert_allclose(got[1].numpy(), cv2.bilateralFilter(x[1], 5, 1.5, 2.0),
                                   atol=2e-4)  # either OpenCV path


def test_bilateral_support_matches_opencv_definition():
    """Radius d // 2, circle r <= radius without the centre: 12 neighbours for d = 5."""
    radius, offsets = tf.bilateral_support(5, 2.0)
    assert radius == 2 and len(offsets) == 12
    for dy, dx, w in offsets:
        assert dy * dy + dx * dx <= 4 and (dy, dx) != (0, 0)
        assert w == pytest.approx(np.exp(-(dy * dy + dx * dx) / 8.0), rel=1e-7)
    assert tf.bilateral_support(0, 1.0).radius == 2  # round(1.5 * sigma_space)
