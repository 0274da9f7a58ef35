"""The nuScenes sensor rig: six cameras and LIDAR_TOP.

Extrinsics (sensor -> ego, quaternion (w, x, y, z) + translation in metres) and intrinsics at
1600x900 are the calibration of nuScenes log n015-2018-07-24-11-22-45 (the real keyframe in
``../shared/data/nuscenes_sample``), rounded to 6 decimals; every synthetic sample uses the same
rig, with the intrinsics scaled to the requested image size.
Frames (nuScenes): ego x forward, y left, z up; camera x right, y down, z forward; LIDAR_TOP x
right, y forward, z up.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .geometry import make_pose

#: Image size the intrinsics below refer to.
NUSCENES_IMAGE_SIZE: Tuple[int, int] = (1600, 900)


@dataclass(frozen=True)
class SensorCalibration:
    """One sensor of the rig.

    Attributes:
        channel (str): nuScenes channel name, e.g. ``'CAM_FRONT'``.
        rotation (Tuple[float, ...]): sensor -> ego rotation quaternion (w, x, y, z).
        translation (Tuple[float, ...]): sensor position in the ego frame (metres).
        intrinsics (Optional[Tuple[float, ...]]): (fx, fy, cx, cy) at 1600x900, None for LiDAR.
    """

    channel: str
    rotation: Tuple[float, float, float, float]
    translation: Tuple[float, float, float]
    intrinsics: Optional[Tuple[float, float, float, float]] = None

    @property
    def sensor2ego(self) -> np.ndarray:
        """(4, 4) sensor -> ego pose (quaternion normalised)."""
        return make_pose(np.asarray(self.rotation), self.translation)


#: The six cameras, in the order of mmdet3d's nuScenes info files.
CAMERAS: Tuple[SensorCalibration, ...] = (
    SensorCalibration('CAM_FRONT', (0.499802, -0.503032, 0.49978, -0.497371),
                      (1.7008, 0.0159, 1.511), (1266.417, 1266.417, 816.267, 491.507)),
    SensorCalibration('CAM_FRONT_RIGHT', (0.206035, -0.202694, 0.682451, -0.671361),
                      (1.5508, -0.4934, 1.4957), (1260.847, 1260.847, 807.968, 495.334)),
    SensorCalibration('CAM_FRONT_LEFT', (0.675727, -0.673627, 0.21214, -0.211228),
                      (1.5239, 0.4946, 1.5093), (1272.598, 1272.598, 826.615, 479.752)),
    SensorCalibration('CAM_BACK', (0.503787, -0.497402, -0.494185, 0.50455),
                      (0.0283, 0.0035, 1.5791), (809.221, 809.221, 829.22, 481.778)),
    SensorCalibration('CAM_BACK_LEFT', (0.692419, -0.703162, -0.116483, 0.112033),
                      (1.0357, 0.4848, 1.591), (1256.741, 1256.741, 792.113, 492.776)),
    SensorCalibration('CAM_BACK_RIGHT', (0.12281, -0.132401, -0.700431, 0.690496),
                      (1.0149, -0.4806, 1.5624), (1259.514, 1259.514, 807.253, 501.196)),
)

#: The roof LiDAR (x right, y forward, z up; 1.84 m above the ground).
LIDAR_TOP = SensorCalibration('LIDAR_TOP', (0.707796, -0.006492, 0.010646, -0.706307),
                              (0.9437, 0.0, 1.8402))

CAMERA_CHANNELS: Tuple[str, ...] = tuple(cam.channel for cam in CAMERAS)


def camera_intrinsics(calibration: SensorCalibration, width: int, height: int) -> np.ndarray:
    """Camera matrix of ``calibration`` for a ``width`` x ``height`` image.

    The 1600x900 matrix is scaled per axis: fx' = fx * W / 1600, cx' = cx * W / 1600 (same for
    y with H / 900), i.e. the convention mmdet3d uses when it resizes nuScenes images.

    Args:
        calibration (SensorCalibration): a camera of ``CAMERAS``.
        width (int): image width W in pixels.
        height (int): image height H in pixels.

    Returns:
        np.ndarray: (3, 3) float64 ``cam2img``.

    Raises:
        ValueError: if the sensor has no intrinsics or the size is not positive.
    """
    if calibration.intrinsics is None:
        raise ValueError(f'{calibration.channel} is not a camera (no intrinsics)')
    if width <= 0 or height <= 0:
        raise ValueError(f'image size must be positive, got {width}x{height}')
    fx, fy, cx, cy = calibration.intrinsics
    sx, sy = width / NUSCENES_IMAGE_SIZE[0], height / NUSCENES_IMAGE_SIZE[1]
    return np.array([[fx * sx, 0.0, cx * sx], [0.0, fy * sy, cy * sy], [0.0, 0.0, 1.0]])


def camera_ray_directions(cam2img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame directions of the rays through the pixel centres, scaled to z = 1.

    Pixel (row i, column j) is centred on image point (u, v) = (j, i) (OpenCV convention), so its
    ray is K^-1 (j, i, 1)^T; with z = 1 the ray parameter of a hit is its z-depth.

    Args:
        cam2img (np.ndarray): (3, 3) intrinsics.
        width (int): image width W.
        height (int): image height H.

    Returns:
        np.ndarray: (H, W, 3) float64 directions in the camera frame.
    """
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    pix = np.stack([u, v, np.ones_like(u)], axis=-1)
    return pix @ np.linalg.inv(cam2img).T
