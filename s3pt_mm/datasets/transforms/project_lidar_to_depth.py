"""Render the LiDAR sweep into the camera image as a sparse depth map (S3PT spec section 4)."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from s3pt_mm.ops import project_points_to_depth
from .sample_context import describe_sample


@TRANSFORMS.register_module()
class ProjectLidarToDepth(BaseTransform):
    """Project ``points`` with ``lidar2cam`` and ``cam2img`` into a z-buffered depth map.

    ``x_cam = lidar2cam . x``; points with ``z > min_depth`` land on pixel
    ``floor(cam2img . x_cam / z)`` when inside the image; a pixel hit twice keeps the nearer
    point (:func:`s3pt_mm.ops.project_points_to_depth`).

    Before projecting it checks that the image and the calibration belong together: the
    principal point ``(cam2img[0, 2], cam2img[1, 2])`` must lie inside the loaded image, and
    when the dataset knows the image size (``expected_img_shape``, e.g. nuscenes-devkit's
    ``sample_data.width/height``) the loaded image must have it — a resized or swapped image
    would otherwise silently receive depth at the wrong pixels.

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
            ValueError: on a calibration of the wrong shape or with NaN/inf, a principal
                point outside the image, an image size other than ``expected_img_shape``,
                or NaN/inf points; the message names the sample.
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
        cam2img = np.asarray(results['cam2img'], dtype=np.float64)
        if cam2img.shape not in ((3, 3), (3, 4), (4, 4)):
            raise ValueError(f'{where}: cam2img must have shape (3, 3), (3, 4) or (4, 4), got '
                             f'{cam2img.shape}')
        lidar2cam = np.asarray(results['lidar2cam'], dtype=np.float64)
        if lidar2cam.shape not in ((4, 4), (3, 4)):
            raise ValueError(f'{where}: lidar2cam must have shape (4, 4) or (3, 4), got '
                             f'{lidar2cam.shape}')
        expected = results.get('expected_img_shape')
        if expected is not None and tuple(expected) != (height, width):
            raise ValueError(f'{where}: the image is {height}x{width} (HxW) but the dataset '
                             f'records {expected[0]}x{expected[1]}; the calibration is for '
                             'the recorded size')
        cx, cy = cam2img[0, 2], cam2img[1, 2]
        # Pixel (i, j) is centred on (j, i): the image spans [-0.5, W - 0.5) x [-0.5, H - 0.5).
        if not (-0.5 <= cx < width - 0.5 and -0.5 <= cy < height - 0.5):
            raise ValueError(f'{where}: principal point ({cx:.1f}, {cy:.1f}) lies outside the '
                             f'{width}x{height} (WxH) image; the image does not match its '
                             'calibration (resized image?)')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(min_depth={self.min_depth}, '
                f'keep_points={self.keep_points})')
