"""Fixtures shared by the tests of s3pt_mm.ops (test folders are not packages)."""
import pickle
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope='session')
def synthetic_scene(tmp_path_factory):
    """One generated nuScenes-format sample (400x225 cameras) with exact depth maps.

    Returns:
        tuple: ``(points (N, 5), [(camera, lidar2cam, cam2img, depth_gt (H, W)), ...])``.
    """
    synthetic = pytest.importorskip('s3pt_mm.synthetic')
    root = tmp_path_factory.mktemp('synthetic_nuscenes')
    synthetic.generate_dataset(
        str(root),
        synthetic.SyntheticConfig(num_scenes=1, samples_per_scene=1, seed=3,
                                  image_size=(400, 225)))
    info = pickle.load(open(next(root.glob('nuscenes_infos_*.pkl')), 'rb'))['data_list'][0]
    points = np.fromfile(root / 'samples' / 'LIDAR_TOP' / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    cameras = []
    for cam, image in info['images'].items():
        gt = np.load(root / 'depth_gt' / cam / (Path(image['img_path']).stem + '.npy'))
        cameras.append((cam, np.asarray(image['lidar2cam']), np.asarray(image['cam2img']), gt))
    return points, cameras
