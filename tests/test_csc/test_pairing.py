"""Point-pixel pairing reuses the depth projection (docs/csc.md §1)."""
import numpy as np
import pytest

from s3pt_mm.csc import pair_points_with_pixels
from s3pt_mm.ops.depth_projection import project_points_to_depth, project_points_to_pixels

K = np.array([[50.0, 0, 32], [0, 50.0, 24], [0, 0, 1]])
# LiDAR x forward -> camera z; LiDAR y left -> camera -x; LiDAR z up -> camera -y.
L2C = np.array([[0, -1, 0, 0], [0, 0, -1, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)


def test_pairs_hand_computed_and_consistent_with_depth_map():
    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.uniform([0.5, -8, -3], [20, 8, 3], (300, 3)),
                          [[10.0, 0.0, 0.0], [-5.0, 0, 0]]])
    idx, pix = pair_points_with_pixels(pts, L2C[None], K[None], (48, 64), min_depth=1.0)
    # Point (10, 0, 0): camera (0, 0, 10) -> (u, v) = (32, 24).
    j = np.flatnonzero(idx == 300)
    assert pix[j].tolist() == [[0, 24, 32]]
    assert 301 not in idx  # behind the camera
    # Every pair obeys the projection formula; the z-buffered depth map has exactly the pixels
    # hit, each holding the smallest paired depth.
    p_idx, cam, row, col, z = project_points_to_pixels(pts, L2C, K, (48, 64), 1.0)
    cam_pts = pts @ L2C[:3, :3].T
    u = K[0, 0] * cam_pts[p_idx, 0] / cam_pts[p_idx, 2] + K[0, 2]
    np.testing.assert_array_equal(col, np.floor(u + 0.5).astype(int))
    depth = project_points_to_depth(pts, L2C, K, (48, 64), min_depth=1.0)
    assert set(zip(*np.nonzero(depth))) == set(zip(row.tolist(), col.tolist()))
    zmin = {}
    for r, c, d in zip(row, col, z):
        zmin[(r, c)] = min(zmin.get((r, c), np.inf), d)
    for (r, c), d in zmin.items():
        assert depth[r, c] == pytest.approx(d)


def test_sweep_with_no_point_in_any_camera_gives_empty_pairing():
    pts = np.array([[-5.0, 0, 0], [-1.0, 2, 0]])  # all behind the camera
    idx, pix = pair_points_with_pixels(pts, np.stack([L2C, L2C]), K, (48, 64))
    assert idx.shape == (0,) and pix.shape == (0, 3)


def test_bad_rounding_and_points_raise():
    with pytest.raises(ValueError, match='rounding'):
        project_points_to_pixels(np.zeros((2, 3)), L2C, K, (4, 4), rounding='ceil')
    with pytest.raises(ValueError, match='NaN'):
        pair_points_with_pixels(np.array([[np.nan, 0, 0]]), L2C[None], K[None], (4, 4))
