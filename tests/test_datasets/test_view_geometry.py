"""Closed-form crop geometry: crop boxes, pixel centres, nearest indices, token pooling."""
import numpy as np
import pytest

from s3pt_mm.datasets.view_geometry import (CropBox, crop_depth_nearest, nearest_source_indices,
                                            pixel_centres, sample_crop_box, token_depths,
                                            token_positions)


def test_crop_boxes_follow_random_resized_crop():
    rng = np.random.RandomState(0)
    scale, ratio = (0.25, 1.0), (3 / 4, 4 / 3)
    areas, ratios = [], []
    for _ in range(2000):
        x0, y0, w, h = sample_crop_box(900, 1600, scale, ratio, rng=rng)
        assert 0 <= x0 and x0 + w <= 1600 and 0 <= y0 and y0 + h <= 900
        areas.append(w * h / (900 * 1600))
        ratios.append(w / h)
    areas, ratios = np.array(areas), np.array(ratios)
    # Rounding to integer sides moves the area and ratio by well under 1 %.
    assert areas.min() > 0.25 * 0.99 and areas.max() <= 1.0
    assert ratios.min() > 0.75 * 0.99 and ratios.max() < 4 / 3 * 1.01
    # 1600x900 cannot hold a 4:3 crop of the full area: big crops are rejected, so the
    # accepted area fractions are biased low; the mean of U(0.25, 1) would be 0.625.
    assert 0.4 < areas.mean() < 0.625


def test_crop_box_fallback_is_central():
    # No 0.99-area crop fits a 10:1 image with aspect ratio <= 4/3: central clamp.
    assert sample_crop_box(10, 100, (0.99, 1.0), (3 / 4, 4 / 3), rng=np.random.RandomState(0)) \
        == (43, 0, 13, 10)


@pytest.mark.parametrize('width,out', [(37, 16), (16, 64), (300, 224), (448, 224)])
@pytest.mark.parametrize('flip', [False, True])
def test_nearest_indices_are_the_pixels_containing_the_centres(width, out, flip):
    box = CropBox(x0=5, y0=3, width=width, height=width, out_width=out, out_height=out,
                  flip=flip)
    xs, ys = pixel_centres(box)
    cols, rows = nearest_source_indices(box)
    # Centres in closed form: x0 - 1/2 + (j + 1/2) w / out, reversed when flipped.
    j = np.arange(out)
    expected = 5 - 0.5 + (j + 0.5) * width / out
    np.testing.assert_allclose(xs, expected[::-1] if flip else expected, rtol=0, atol=1e-9)
    # The containing pixel (pixel k spans [k - 1/2, k + 1/2)); for 448 -> 224 every centre is
    # on a border and goes to the right-hand pixel.
    np.testing.assert_array_equal(cols, np.floor(xs + 0.5 + 1e-9).astype(int))
    np.testing.assert_array_equal(rows, np.floor(ys + 0.5 + 1e-9).astype(int))
    assert cols.min() >= 5 and cols.max() <= 5 + width - 1


def test_token_positions_are_patch_means_in_closed_form():
    box = CropBox(x0=100, y0=50, width=300, height=210, out_width=64, out_height=48, flip=True)
    p = 16
    pos = token_positions(box, p)
    assert pos.shape == (3 * 4, 2) and pos.dtype == np.float32
    # Mean of (2j + 1) over a patch of columns b p .. b p + p - 1 is 2 b p + p.
    b = np.arange(4)
    x = 100 - 0.5 + 300 - (2 * b * p + p) * 300 / (2 * 64)  # flipped
    a = np.arange(3)
    y = 50 - 0.5 + (2 * a * p + p) * 210 / (2 * 48)
    np.testing.assert_allclose(pos[:, 0], np.tile(x, 3), atol=1e-4)
    np.testing.assert_allclose(pos[:, 1], np.repeat(y, 4), atol=1e-4)


def test_token_depths_average_valid_pixels_only():
    view = np.array([[0.0, 2.0, 5.0, 5.0],
                     [4.0, 0.05, 5.0, 7.0],
                     [0.0, 0.0, 1.0, 1.0],
                     [0.0, 0.1, 1.0, 1.0]], np.float32)
    depth, valid = token_depths(view, 2)
    np.testing.assert_allclose(depth, [3.0, 5.5, 0.0, 1.0])
    assert valid.tolist() == [True, True, False, True]


def test_crop_depth_never_blends():
    rng = np.random.default_rng(0)
    depth = rng.choice([0.0, 3.0, 40.0], size=(30, 50)).astype(np.float32)
    view = crop_depth_nearest(depth, CropBox(7, 4, 21, 13, 40, 40, flip=True))
    assert set(np.unique(view)) <= {0.0, 3.0, 40.0}
    with pytest.raises(ValueError, match='exceeds the depth map'):
        crop_depth_nearest(depth, CropBox(40, 0, 21, 13, 16, 16))


def test_view_size_must_be_a_patch_multiple():
    with pytest.raises(ValueError, match='not a multiple of the patch size 16'):
        token_positions(CropBox(0, 0, 10, 10, 40, 40), 16)
    with pytest.raises(ValueError, match='not a multiple'):
        token_depths(np.zeros((40, 40), np.float32), 16)
