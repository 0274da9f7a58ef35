"""CM3D's lifting functions against independent re-derivations and hand-computed cases."""
import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation

from s3pt_mm.cm3d import lifting
from s3pt_mm.ops import project_points_to_depth


def test_near_points_mask_is_the_sqrt_square():
    half = math.sqrt(2.3)  # 1.5166 m
    xyz = np.array([[1.5, 1.5, 0], [half + 1e-3, 0, 0], [0, -half - 1e-3, 0], [-1.0, 0.2, 5],
                    [3.0, 3.0, 0]])
    np.testing.assert_array_equal(lifting.near_points_mask(xyz), [False, True, True, False,
                                                                  True])


@pytest.mark.parametrize('seed', [0, 1])
def test_erosion_equals_binary_erosion_with_set_border(seed):
    mask = np.random.default_rng(seed).random((40, 50)) > 0.3
    mask[:, :8] = True  # touches the border: not eroded from outside (OpenCV default border)
    ref = ndimage.binary_erosion(mask, structure=np.ones((3, 3)), border_value=1)
    np.testing.assert_array_equal(lifting.erode_mask(mask, 3), ref)
    np.testing.assert_array_equal(lifting.erode_mask(mask, 0), mask)


def test_points_in_mask_reference_convention_edges():
    h, w = 6, 8
    mask = np.ones((h, w), bool)
    uv = np.array([[0.5, 3.0],    # floor(u) = 0: dropped by the reference's logical and
                   [1.0, 3.0],    # kept
                   [6.99, 3.0],   # u < W - 1 = 7: kept (column 6)
                   [7.0, 3.0],    # u = W - 1: dropped
                   [3.0, 0.9],    # floor(v) = 0: dropped
                   [3.0, 4.99],   # v < H - 1: kept
                   [3.0, 3.0]])   # too near
    depth = np.array([5, 5, 5, 5, 5, 5, 2.3])
    np.testing.assert_array_equal(lifting.points_in_mask(uv, depth, mask), [1, 2, 5])
    mask[3, 1] = False
    np.testing.assert_array_equal(lifting.points_in_mask(uv, depth, mask), [2, 5])


def test_points_in_mask_centre_convention_matches_depth_projection():
    """Each point's pixel under 'centre' is the one ops.project_points_to_depth writes."""
    rng = np.random.default_rng(3)
    h, w = 30, 40
    k = np.array([[30.0, 0, 19.5], [0, 30.0, 14.5], [0, 0, 1]])
    lidar2cam = np.eye(4)
    xyz = np.stack([rng.uniform(-8, 8, 60), rng.uniform(-6, 6, 60), rng.uniform(3, 12, 60)], 1)
    uv, depth = lifting.project_to_image(xyz, lidar2cam, k)
    for i in range(len(xyz)):
        dmap = project_points_to_depth(xyz[i:i + 1], lidar2cam, k, (h, w), min_depth=2.3)
        mask = dmap > 0
        got = lifting.points_in_mask(uv[i:i + 1], depth[i:i + 1], mask, 2.3, 'centre')
        assert len(got) == int(mask.any())
        if mask.any():
            # and no other pixel would have contained it
            other = ~mask
            assert len(lifting.points_in_mask(uv[i:i + 1], depth[i:i + 1], other, 2.3,
                                              'centre')) == 0


def test_project_to_image_scales_intrinsics_like_the_reference():
    k = np.array([[1266.4, 0, 816.3], [0, 1266.4, 491.5], [0, 0, 1]])
    xyz = np.array([[1.0, -0.5, 10.0]])
    uv, depth = lifting.project_to_image(xyz, np.eye(4), k, scale=0.64)
    ks = k * 0.64
    ks[2, 2] = 1
    p = ks @ xyz[0]
    np.testing.assert_allclose(uv[0], p[:2] / p[2], rtol=1e-12)
    np.testing.assert_allclose(depth, [10.0])


def test_medoid_is_the_argmin_of_summed_distances():
    xyz = np.random.default_rng(0).normal(size=(37, 3))
    sums = [sum(np.linalg.norm(a - b) for b in xyz) for a in xyz]
    assert lifting.medoid_index(xyz) == int(np.argmin(sums))
    np.testing.assert_array_equal(lifting.object_centre(xyz), xyz[int(np.argmin(sums))])
    np.testing.assert_allclose(lifting.object_centre(xyz, 'mean'), xyz.mean(0))
    with pytest.raises(ValueError, match='at least one point'):
        lifting.object_centre(np.zeros((0, 3)))


@pytest.mark.parametrize('yaw,ray', [(0.3, 0.3), (0.3, 0.3 + math.pi / 2), (0.2, 1.0),
                                     (-2.0, 0.4), (1.1, -2.9)])
def test_ray_exit_distance_lands_on_the_box_boundary(yaw, ray):
    along, across = 4.5, 1.8
    t = lifting.ray_exit_distance(ray, yaw, along, across)
    p = t * np.array([math.cos(ray), math.sin(ray)])
    c, s = math.cos(yaw), math.sin(yaw)
    local = np.array([c * p[0] + s * p[1], -s * p[0] + c * p[1]])
    assert max(abs(local[0]) / (along / 2), abs(local[1]) / (across / 2)) == pytest.approx(1.0)


def _reference_offset(centroid_xy, ego_xy, extents, lane_yaw):
    """The reference's push_centroid offset, re-derived: its yaw comes from scipy reading a
    pyquaternion [w, x, y, z] list as [x, y, z, w], and l / w are extents[0] / extents[1]."""
    half = lane_yaw / 2
    q_wxyz = [math.cos(half), 0.0, 0.0, math.sin(half)]
    theta = -Rotation.from_quat(q_wxyz).as_euler('xyz')[0]
    rel = np.asarray(centroid_xy) - np.asarray(ego_xy)
    alpha = math.atan2(rel[1], rel[0])
    l, w = extents[0], extents[1]
    return min(abs(w / (2 * math.sin(theta - alpha))), abs(l / (2 * math.cos(theta - alpha))))


@pytest.mark.parametrize('seed', range(5))
def test_push_back_reference_axes_match_the_reference_formula(seed):
    rng = np.random.default_rng(seed)
    centre = np.array([*rng.uniform(-40, 40, 2), 0.7])
    ego = rng.uniform(-3, 3, 2)
    yaw = rng.uniform(-math.pi, math.pi)
    prior = lifting.SHAPE_PRIORS['car']
    pushed = lifting.push_back(centre, ego, prior, yaw, 'reference')
    offset = _reference_offset(centre[:2], ego, prior, yaw)
    direction = (centre[:2] - ego) / np.linalg.norm(centre[:2] - ego)
    np.testing.assert_allclose(pushed[:2], centre[:2] + offset * direction, atol=1e-9)
    assert pushed[2] == centre[2]
    # 'exact' is the same construction with length and width in their geometric roles.
    exact = lifting.push_back(centre, ego, prior, yaw, 'exact')
    swapped = lifting.push_back(centre, ego, (prior[1], prior[0], prior[2]), yaw, 'reference')
    np.testing.assert_allclose(exact, swapped, atol=1e-12)


def test_push_back_moves_a_surface_point_to_the_centre():
    # A car heading +x at (20, 0): the LiDAR at the origin sees its rear face at x = 17.75.
    exact = lifting.push_back(np.array([17.75, 0.0, 0.8]), np.zeros(2), (1.8, 4.5, 1.4), 0.0,
                              'exact')
    np.testing.assert_allclose(exact, [20.0, 0.0, 0.8])
    ref = lifting.push_back(np.array([17.75, 0.0, 0.8]), np.zeros(2), (1.8, 4.5, 1.4), 0.0)
    np.testing.assert_allclose(ref, [17.75 + 0.9, 0.0, 0.8])  # the reference pushes w / 2


def test_nearest_lane():
    poses = np.array([[0, 0, 0.1], [10, 0, 0.2], [10, 5, -3.0]])
    assert lifting.nearest_lane(np.array([9.0, 4.0]), poses) == (-3.0, pytest.approx(
        math.hypot(1, 1)))
    assert lifting.nearest_lane(np.array([9.0, 4.0]), np.zeros((0, 3))) == (None, math.inf)


def test_circle_nms_classwise_and_squared_radius():
    xy = np.array([[0, 0], [1.9, 0], [3.8, 0], [0.3, 0], [0.5, 0.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    labels = ['car', 'car', 'car', 'pedestrian', 'pedestrian']
    keep = lifting.circle_nms(xy, scores, labels)
    # pedestrian 3 (0.95) first; car 0 suppresses car 1 (1.9^2 = 3.61 <= 4) but not car 2
    # (3.8 m); pedestrian 4 is 0.2 m from 3: 0.04 <= 0.175 -> suppressed.
    assert keep.tolist() == [3, 0, 2]
    assert lifting.circle_nms(xy, scores, labels, {'car': 1.0}).tolist() == [3, 0, 1, 2, 4]


def test_circle_nms_ties_follow_reversed_argsort():
    xy = np.zeros((3, 2))
    keep = lifting.circle_nms(xy, np.ones(3), ['car'] * 3)
    assert keep.tolist() == [int(np.argsort(np.ones(3))[::-1][0])]
