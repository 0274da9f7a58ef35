"""CompleteDepth: the default completion of docs/method.md §4 (fill_in_fast, bilateral,
extrapolate)."""
import numpy as np
import pytest

from s3pt_mm.datasets import CompleteDepth
from s3pt_mm.ops import fill_in_fast, fill_in_multiscale


def _sparse(seed=0):
    rng = np.random.default_rng(seed)
    sparse = np.zeros((90, 160), np.float32)
    rows, cols = rng.integers(40, 90, 300), rng.integers(0, 160, 300)
    sparse[rows, cols] = rng.uniform(2, 60, 300)
    return sparse


def test_defaults_are_fill_in_fast_with_extrapolation():
    sparse = _sparse()
    out = CompleteDepth()(dict(sparse_depth=sparse))
    np.testing.assert_array_equal(
        out['depth'], fill_in_fast(sparse, extrapolate=True, blur_type='bilateral'))
    # Extrapolation reaches the image top (rows 0-39 hold no LiDAR point at all).
    assert (out['depth'][:40] > 0.1).mean() > 0.95
    without = fill_in_fast(sparse, extrapolate=False)
    assert (without[:40] > 0.1).mean() < 0.5
    assert 'sparse_depth' not in out


def test_multiscale_and_kernel_options_are_passed_through():
    sparse = _sparse(1)
    out = CompleteDepth(method='fill_in_multiscale', extrapolate=False, keep_sparse=True,
                        completion_kwargs=dict(hole_fill_kernel_size=7))(
        dict(sparse_depth=sparse))
    np.testing.assert_array_equal(
        out['depth'], fill_in_multiscale(sparse, extrapolate=False, hole_fill_kernel_size=7))
    assert out['sparse_depth'] is sparse


def test_bad_input_names_the_sample():
    with pytest.raises(ValueError, match='method must be one of'):
        CompleteDepth(method='nearest')
    with pytest.raises(KeyError, match=r'sample 2: no sparse_depth'):
        CompleteDepth()(dict(sample_idx=2))
    with pytest.raises(ValueError, match=r'sample 2 \(.*x\.jpg\): fill_in_fast: .*NaN'):
        CompleteDepth()(dict(sample_idx=2, img_path='x.jpg',
                             sparse_depth=np.full((8, 8), np.nan, np.float32)))
