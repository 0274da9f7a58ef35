"""Point-pixel pairing for image-to-LiDAR contrast (docs/csc.md §1)."""
from typing import Sequence, Tuple, Union

import numpy as np
from torch import Tensor

from s3pt_mm.ops.depth_projection import project_points_to_pixels

__all__ = ['pair_points_with_pixels']


def pair_points_with_pixels(points: Union[np.ndarray, Tensor], lidar2cam, cam2img,
                            img_shape: Sequence, min_depth: float = 1.0
                            ) -> Tuple[np.ndarray, np.ndarray]:
    """Pair every LiDAR point with the pixel it projects to, in every camera that sees it.

    Uses :func:`s3pt_mm.ops.depth_projection.project_points_to_pixels` (nearest pixel
    centre, no z-buffer). The reference (SLidR / CSC ``map_pointcloud_to_image``) keeps
    points more than 1 m in front of the camera, rounds to the nearest pixel and pairs
    occluded points as well; the default ``min_depth`` follows it. The reference also drops
    the outer half-pixel border (it keeps ``0 < u < W - 1``); we keep every pixel.

    Args:
        points (np.ndarray | Tensor): (N, C >= 3) points in the LiDAR frame.
        lidar2cam: (Ncam, 4, 4) LiDAR -> camera transforms.
        cam2img: (Ncam, 3, 3) / (Ncam, 4, 4) intrinsics (or one shared).
        img_shape (sequence): ``(H, W)`` of every image.
        min_depth (float): smallest camera depth kept, metres. Defaults to 1.0.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``pairing_points`` (M,) int64 point indices and
        ``pairing_images`` (M, 3) int64 ``(camera, row, col)``. M may be 0 (a sweep with
        no point inside any camera): both arrays are then empty, not an error.

    Raises:
        ValueError: for malformed points or calibrations (see ``project_points_to_pixels``).
    """
    point_idx, cam, row, col, _ = project_points_to_pixels(
        points, lidar2cam, cam2img, img_shape, min_depth=min_depth, rounding='nearest')
    return point_idx, np.stack([cam, row, col], axis=1).reshape(-1, 3)
