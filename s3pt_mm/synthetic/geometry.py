"""Rigid transforms and quaternions in the nuScenes conventions (pure numpy).

Quaternions are ``(w, x, y, z)`` like nuScenes' JSON tables and pyquaternion; a pose is a 4x4
homogeneous matrix ``a2b`` that maps points of frame ``a`` into frame ``b``: ``x_b = a2b @ x_a``.
"""
from typing import Sequence, Tuple

import numpy as np


def quaternion_to_matrix(q: Sequence[float]) -> np.ndarray:
    """Rotation matrix of a unit quaternion.

    R = I + 2w[v]x + 2[v]x^2 for q = (w, v); the quaternion is normalised first.

    Args:
        q (Sequence[float]): (4,) quaternion (w, x, y, z).

    Returns:
        np.ndarray: (3, 3) float64 rotation matrix.

    Raises:
        ValueError: if ``q`` does not have 4 entries or has zero norm.
    """
    q = np.asarray(q, dtype=np.float64)
    if q.shape != (4,):
        raise ValueError(f'quaternion must have shape (4,), got {q.shape}')
    norm = np.linalg.norm(q)
    if norm == 0:
        raise ValueError('quaternion has zero norm')
    w, x, y, z = q / norm
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ])


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Unit quaternion (w >= 0) of a rotation matrix.

    Uses the symmetric 4x4 eigen-decomposition (Bar-Itzhack 2000), which is robust for every
    rotation angle and tolerates slightly non-orthogonal input.

    Args:
        rot (np.ndarray): (3, 3) rotation matrix.

    Returns:
        np.ndarray: (4,) float64 quaternion (w, x, y, z) with w >= 0.

    Raises:
        ValueError: if ``rot`` is not 3x3.
    """
    m = np.asarray(rot, dtype=np.float64)
    if m.shape != (3, 3):
        raise ValueError(f'rotation matrix must have shape (3, 3), got {m.shape}')
    k = np.array([
        [m[0, 0] - m[1, 1] - m[2, 2], m[1, 0] + m[0, 1], m[2, 0] + m[0, 2], m[2, 1] - m[1, 2]],
        [m[1, 0] + m[0, 1], m[1, 1] - m[0, 0] - m[2, 2], m[2, 1] + m[1, 2], m[0, 2] - m[2, 0]],
        [m[2, 0] + m[0, 2], m[2, 1] + m[1, 2], m[2, 2] - m[0, 0] - m[1, 1], m[1, 0] - m[0, 1]],
        [m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1], m[0, 0] + m[1, 1] + m[2, 2]],
    ]) / 3.0
    _, vecs = np.linalg.eigh(k)
    x, y, z, w = vecs[:, -1]
    q = np.array([w, x, y, z])
    return q if w >= 0 else -q


def yaw_to_quaternion(yaw: float) -> np.ndarray:
    """Quaternion (w, x, y, z) of a rotation by ``yaw`` radians about +z."""
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def rotation_z(yaw: float) -> np.ndarray:
    """(3, 3) rotation by ``yaw`` radians about +z (counter-clockwise seen from above)."""
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def make_pose(rotation: np.ndarray, translation: Sequence[float]) -> np.ndarray:
    """Build a 4x4 pose from a (3, 3) rotation matrix or (4,) quaternion and a (3,) translation."""
    rotation = np.asarray(rotation, dtype=np.float64)
    if rotation.shape == (4,):
        rotation = quaternion_to_matrix(rotation)
    if rotation.shape != (3, 3):
        raise ValueError(f'rotation must be (3, 3) or a (4,) quaternion, got {rotation.shape}')
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = np.asarray(translation, dtype=np.float64)
    return pose


def invert_pose(pose: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 pose: [R t]^-1 = [R^T, -R^T t]."""
    pose = np.asarray(pose, dtype=np.float64)
    inv = np.eye(4)
    inv[:3, :3] = pose[:3, :3].T
    inv[:3, 3] = -pose[:3, :3].T @ pose[:3, 3]
    return inv


def transform_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 pose to points.

    Args:
        pose (np.ndarray): (4, 4) pose ``a2b``.
        points (np.ndarray): (..., 3) points in frame ``a``.

    Returns:
        np.ndarray: (..., 3) float64 points in frame ``b``.
    """
    points = np.asarray(points, dtype=np.float64)
    return points @ pose[:3, :3].T + pose[:3, 3]


def box_corners(center: np.ndarray, half_size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """Corners of yawed boxes.

    Args:
        center (np.ndarray): (N, 3) box centres.
        half_size (np.ndarray): (N, 3) half extents along the box's own x (heading), y, z.
        yaw (np.ndarray): (N,) rotation about +z.

    Returns:
        np.ndarray: (N, 8, 3) corners; corner k has signs ((k>>2)&1, (k>>1)&1, k&1) -> (-, +).
    """
    signs = np.array([[(k >> 2) & 1, (k >> 1) & 1, k & 1] for k in range(8)], dtype=np.float64)
    local = (signs * 2 - 1)[None] * half_size[:, None, :]  # (N, 8, 3)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x = c * local[..., 0] - s * local[..., 1]
    y = s * local[..., 0] + c * local[..., 1]
    return np.stack([x, y, local[..., 2]], axis=-1) + center[:, None, :]


#: The 12 edges of a box as pairs of corner indices of ``box_corners`` (corners differ in one bit).
BOX_EDGES: Tuple[Tuple[int, int], ...] = tuple(
    (a, a | bit) for bit in (1, 2, 4) for a in range(8) if not a & bit)
