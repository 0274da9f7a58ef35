"""A global BEV rotation / scaling of the scene that keeps every camera consistent."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS


def bev_rot_scale_matrix(angle: float, scale: float) -> np.ndarray:
    """4x4 map of LiDAR points: rotate by ``angle`` about z (counter-clockwise seen from
    above, x towards y), then scale by ``scale``: ``p' = s R_z(angle) p``.

    Args:
        angle (float): radians.
        scale (float): > 0.

    Returns:
        np.ndarray: (4, 4) float64.
    """
    c, s = np.cos(angle), np.sin(angle)
    mat = np.eye(4)
    mat[:3, :3] = scale * np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    return mat


@TRANSFORMS.register_module()
class GlobalRotScaleBEV(BaseTransform):
    """Rotate the whole scene about the LiDAR z axis and scale it (PETR's
    ``GlobalRotScaleTransImage``), consistently for boxes, points and cameras.

    With ``T = s R_z(a)`` (:func:`bev_rot_scale_matrix`, ``a ~ U(rot_range)``,
    ``s ~ U(scale_range)``, one draw per sample): box centres, sizes and velocities move with
    ``T`` and the yaw grows by ``a`` (mmdet3d's ``rotate`` then ``scale``), LiDAR points move
    with ``T``, and every camera keeps seeing the same thing: ``lidar2cam' = lidar2cam T^-1``
    and ``lidar2img' = lidar2img T^-1`` (a transformed point ``T p`` projects where ``p`` did).
    The images do not change. ``bev_aug_matrix`` accumulates ``T``.

    The official mmdet3d 1.x port is not consistent: it multiplies ``lidar2cam`` by the
    rotation on the left (``R lidar2cam``, a rotation of the camera frame instead of the
    scene) and then moves the yaw by ``-a`` instead of ``+a``; both are fixed here (see
    docs/detection3d.md).

    Required Keys:

    - gt_bboxes_3d (LiDARInstance3DBoxes), optional
    - points (BasePoints), optional
    - lidar2cam (List[np.ndarray]) and / or lidar2img (List[np.ndarray]): (4, 4) per view

    Modified Keys: gt_bboxes_3d, points, lidar2cam, lidar2img.

    Added Keys: bev_aug_matrix (np.ndarray (4, 4)), pcd_rotation_angle, pcd_scale_factor.

    Args:
        rot_range (Sequence[float]): range of ``a`` in radians. Defaults to the official
            (-0.3925, 0.3925).
        scale_range (Sequence[float]): range of ``s``. Defaults to (0.95, 1.05).
    """

    def __init__(self, rot_range: Sequence[float] = (-0.3925, 0.3925),
                 scale_range: Sequence[float] = (0.95, 1.05)) -> None:
        if len(rot_range) != 2 or rot_range[0] > rot_range[1]:
            raise ValueError(f'rot_range must be (low, high), got {rot_range}')
        if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'scale_range must be 0 < low <= high, got {scale_range}')
        self.rot_range = tuple(float(v) for v in rot_range)
        self.scale_range = tuple(float(v) for v in scale_range)

    def apply(self, results: dict, angle: float, scale: float) -> dict:
        """Apply a given rotation and scale (see the class docstring).

        Raises:
            ValueError: if the sample has neither ``lidar2cam`` nor ``lidar2img``.
        """
        if 'lidar2cam' not in results and 'lidar2img' not in results:
            raise ValueError(f'GlobalRotScaleBEV: sample {results.get("sample_idx", "?")} has '
                             'neither lidar2cam nor lidar2img to keep consistent')
        mat = bev_rot_scale_matrix(angle, scale)
        inv = np.linalg.inv(mat)
        if 'gt_bboxes_3d' in results:
            boxes = results['gt_bboxes_3d']
            boxes.rotate(torch.tensor(angle, dtype=boxes.tensor.dtype))
            boxes.scale(scale)
        if 'points' in results:
            points = results['points']
            xyz = points.tensor[:, :3]
            lin = torch.as_tensor(mat[:3, :3], dtype=xyz.dtype)
            points.tensor[:, :3] = xyz @ lin.T
        for key in ('lidar2cam', 'lidar2img'):
            if key in results:
                results[key] = [np.asarray(m, dtype=np.float64) @ inv for m in results[key]]
        results['bev_aug_matrix'] = mat @ results.get('bev_aug_matrix', np.eye(4))
        results['pcd_rotation_angle'] = angle
        results['pcd_scale_factor'] = scale
        return results

    def transform(self, results: dict) -> dict:
        """Draw ``a`` and ``s`` and apply them (see the class docstring)."""
        angle = float(np.random.uniform(*self.rot_range))
        scale = float(np.random.uniform(*self.scale_range))
        return self.apply(results, angle, scale)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(rot_range={self.rot_range}, '
                f'scale_range={self.scale_range})')
