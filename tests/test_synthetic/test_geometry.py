"""Quaternions, poses and box corners against closed forms."""
import numpy as np
import pytest

from s3pt_mm.synthetic.geometry import (BOX_EDGES, box_corners, invert_pose, make_pose,
                                        matrix_to_quaternion, quaternion_to_matrix,
                                        rotation_z, transform_points, yaw_to_quaternion)


def test_quaternion_of_known_rotations():
    # 90 deg about z maps x -> y; 180 deg about x maps y -> -y, z -> -z.
    r = quaternion_to_matrix([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix([0, 1, 0, 0]), np.diag([1, -1, -1]), atol=1e-12)
    np.testing.assert_allclose(quaternion_to_matrix(yaw_to_quaternion(0.3)), rotation_z(0.3),
                               atol=1e-12)


@pytest.mark.parametrize('seed', range(5))
def test_matrix_quaternion_round_trip(seed):
    q = np.random.default_rng(seed).normal(size=4)
    q /= np.linalg.norm(q)
    q *= np.sign(q[0])
    r = quaternion_to_matrix(q)
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(r) == pytest.approx(1.0)
    np.testing.assert_allclose(matrix_to_quaternion(r), q, atol=1e-10)


def test_quaternion_rejects_bad_input():
    with pytest.raises(ValueError, match='shape'):
        quaternion_to_matrix([1, 0, 0])
    with pytest.raises(ValueError, match='zero norm'):
        quaternion_to_matrix([0, 0, 0, 0])


def test_invert_pose_and_transform():
    pose = make_pose(yaw_to_quaternion(0.7), [1.0, -2.0, 0.5])
    np.testing.assert_allclose(invert_pose(pose) @ pose, np.eye(4), atol=1e-12)
    p = np.array([[2.0, 0.0, 0.0]])
    expected = rotation_z(0.7) @ p[0] + [1.0, -2.0, 0.5]
    np.testing.assert_allclose(transform_points(pose, p)[0], expected, atol=1e-12)


def test_box_corners_and_edges():
    corners = box_corners(np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 1.0, 0.5]]),
                          np.array([np.pi / 2]))[0]
    # Heading along +y after a 90 deg yaw: the half length 2 now spans y, half width 1 spans x.
    np.testing.assert_allclose(corners.min(0), [0.0, 0.0, 2.5], atol=1e-12)
    np.testing.assert_allclose(corners.max(0), [2.0, 4.0, 3.5], atol=1e-12)
    assert len(BOX_EDGES) == 12
    lengths = sorted(np.linalg.norm(corners[a] - corners[b]) for a, b in BOX_EDGES)
    np.testing.assert_allclose(lengths, [1.0] * 4 + [2.0] * 4 + [4.0] * 4, atol=1e-12)
