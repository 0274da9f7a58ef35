"""Render the LiDAR sweep into the camera image as a sparse depth map (docs/method.md §4)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.datasets.validation import (MAX_SENSOR_TRANSLATION, DataValidationError,
                                         check_intrinsics, check_rigid_transform)
from s3pt_mm.ops import project_points_to_depth
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class ProjectLidarToDepth(BaseTransform):
    """Project ``points`` with ``lidar2cam`` and ``cam2img`` into a z-buffered depth map.

    ``x_cam = lidar2cam . x``; points with ``z > min_depth`` land on pixel
    ``floor(cam2img . x_cam / z)`` when inside the image; a pixel hit twice keeps the nearer
    point (:func:`s3pt_mm.ops.project_points_to_depth`).

    Before projecting it checks the calibration and that the image belongs to it
    (:func:`~s3pt_mm.datasets.validation.check_intrinsics`,
    :func:`~s3pt_mm.datasets.validation.check_rigid_transform`): focal lengths > 0, an
    invertible rigid ``lidar2cam``, the principal point inside the loaded image and near its
    centre, and when the dataset knows the image size (``expected_img_shape``, e.g.
    nuscenes-devkit's ``sample_data.width/height``) the loaded image must have it — a resized
    or swapped image would otherwise silently receive depth at the wrong pixels.

    A sweep with no point in the camera's view (or every point behind it) gives an all-zero
    map: a documented empty result, not an error; its tokens come out invalid.

    **Required Keys:**

    - img (np.ndarray): (H, W, 3) the loaded image (only its size is used).
    - points (np.ndarray): (N, C >= 3) LiDAR points.
    - cam2img (np.ndarray): (3, 3) intrinsics (or (3, 4) / (4, 4)).
    - lidar2cam (np.ndarray): (4, 4) LiDAR -> camera transform.
    - expected_img_shape (Tuple[int, int], optional): (H, W) the dataset records.

    **Added Keys:**

    - sparse_depth (np.ndarray): (H, W) float32 metres, 0 = no point.

    **Deleted Keys:**

    - points (unless ``keep_points``).

    Args:
        min_depth (float): smallest kept camera depth, metres. Defaults to 0.1.
        keep_points (bool): keep ``points`` in the results. Defaults to False (they are not
            needed after the projection and are the largest array in the results).
    """

    def __init__(self, min_depth: float = 0.1, keep_points: bool = False) -> None:
        self.min_depth = min_depth
        self.keep_points = keep_points

    def transform(self, results: dict) -> dict:
        """Add ``results['sparse_depth']``.

        Raises:
            KeyError: if ``img``, ``points``, ``cam2img`` or ``lidar2cam`` is missing.
            ValueError: (:class:`~s3pt_mm.datasets.validation.DataValidationError`) on a
                calibration of the wrong shape, with NaN/inf, a zero focal length or a
                singular / non-rigid ``lidar2cam``, a principal point outside the image or far
                from its centre, an image size other than ``expected_img_shape``, or NaN/inf
                points; the message names the sample.
        """
        where = describe_sample(results)
        for key in ('img', 'points', 'cam2img', 'lidar2cam'):
            if key not in results:
                raise KeyError(f'{where}: {key!r} missing (load the image with '
                               'LoadImageFromFile and the sweep with LoadLidarPoints first)')
        height, width = results['img'].shape[:2]
        self._check_image(results, where, height, width)
        try:
            depth = project_points_to_depth(results['points'], results['lidar2cam'],
                                            results['cam2img'], (height, width), self.min_depth)
        except ValueError as e:
            raise ValueError(f'{where}: {e}') from e
        if depth.ndim != 2:
            raise ValueError(f'{where}: expected one camera calibration, got a batch '
                             f'(depth maps of shape {depth.shape})')
        results['sparse_depth'] = depth
        if not self.keep_points:
            results.pop('points')
        return results

    @staticmethod
    def _check_image(results: dict, where: str, height: int, width: int) -> None:
        """Calibration and image size (:mod:`s3pt_mm.datasets.validation`)."""
        cam2img = np.asarray(results['cam2img'], dtype=np.float64)
        lidar2cam = np.asarray(results['lidar2cam'], dtype=np.float64)
        if lidar2cam.shape not in ((4, 4), (3, 4)):
            raise DataValidationError(where, f'lidar2cam must have shape (4, 4) or (3, 4), got '
                                      f'{lidar2cam.shape}')
        if lidar2cam.shape == (3, 4):
            lidar2cam = np.vstack([lidar2cam, (0, 0, 0, 1)])
        check_rigid_transform(lidar2cam, where=where, name='lidar2cam',
                              max_translation=MAX_SENSOR_TRANSLATION)
        expected = results.get('expected_img_shape')
        if expected is not None and tuple(expected) != (height, width):
            raise DataValidationError(where, f'the image is {height}x{width} (HxW) but the '
                                      f'dataset records {expected[0]}x{expected[1]}; the '
                                      'calibration is for the recorded size')
        check_intrinsics(cam2img, (height, width), where=where)

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_depth={self.min_depth}, '
                f'keep_points={self.keep_points})')
