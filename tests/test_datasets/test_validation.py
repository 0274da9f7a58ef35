"""s3pt_mm.datasets.validation: each check on hand-made inputs, and no false positive on the real
nuScenes keyframe, the real KITTI frame or the synthetic dataset."""
import pickle
import re

import cv2
import numpy as np
import pytest

from s3pt_mm.datasets import LoadCameraImage, NuScenesCameraDataset
from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos
from s3pt_mm.datasets.validation import (DataValidationError, check_depth_map,
                                         check_image_file, check_intrinsics,
                                         check_lidar_points, check_rigid_transform,
                                         load_lidar_file, read_image_size)

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'
K = np.array([[100.0, 0, 79.5], [0, 100.0, 44.5], [0, 0, 1]])


def _rot(deg):
    c, s = np.cos(np.radians(deg)), np.sin(np.radians(deg))
    m = np.eye(4)
    m[:2, :2] = [[c, -s], [s, c]]
    m[:3, 3] = [1.0, -0.5, 1.8]
    return m


@pytest.mark.parametrize('cam2img, shape, problem', [
    (np.zeros((3, 3)), None, 'is all zeros; focal lengths must be > 0'),
    (np.diag([0.0, 100.0, 1.0]), None, 'fx=0, fy=100'),
    (np.diag([-100.0, 100.0, 1.0]), None, 'focal lengths must be > 0'),
    (np.diag([100.0, 100.0, 0.0]), None, 'not an intrinsics matrix'),
    (np.diag([100.0, 300.0, 1.0]), None, 'fx / fy = 0.333'),
    (np.full((3, 3), np.nan), None, 'NaN or inf'),
    (np.eye(2), None, r'shape \(3, 3\), \(3, 4\) or \(4, 4\), got \(2, 2\)'),
    (K, (45, 80), r'principal point \(79\.5, 44\.5\) lies outside the 80x45'),
    (K, (180, 320), r'is 25% of the image side away'),  # a 2x image
])
def test_intrinsics_refused(cam2img, shape, problem):
    with pytest.raises(DataValidationError, match=r'^f\.pkl: sample t: images\.C\.cam2img '):
        try:
            check_intrinsics(cam2img, shape, where='f.pkl: sample t', name='images.C.cam2img')
        except DataValidationError as e:
            assert re.search(problem, str(e)), str(e)
            raise


def test_intrinsics_accepted():
    np.testing.assert_array_equal(check_intrinsics(K, (90, 160)), K)
    # 3x4 / 4x4 projection matrices (KITTI P2) are checked on their K.
    p2 = np.eye(4)
    p2[:3, :3] = K
    p2[0, 3] = 44.9
    assert check_intrinsics(p2, (90, 160)).shape == (4, 4)
    # 1.3x larger image: centre offset 11.5 % < 20 %: accepted (the size check needs img_shape).
    check_intrinsics(K, (117, 208))
    check_intrinsics(K, (180, 320), max_principal_offset=None)


@pytest.mark.parametrize('edit, problem', [
    (lambda m: m.__setitem__((2, slice(0, 3)), m[1, :3]), 'singular'),
    (lambda m: m.__setitem__((slice(0, 3), slice(0, 3)), 2 * m[:3, :3]), 'not orthonormal'),
    (lambda m: m.__setitem__((0, slice(0, 3)), -m[0, :3]), 'det -1'),
    (lambda m: m.__setitem__((3, 0), 1.0), r'last row \[1\.0, 0\.0, 0\.0, 1\.0\]'),
    (lambda m: m.__setitem__((0, 3), np.inf), 'NaN or inf'),
    (lambda m: m.__setitem__((slice(0, 3), 3), 1000.0 * m[:3, 3]), 'translates by 2119 m'),
])
def test_rigid_transform_refused(edit, problem):
    m = _rot(30)
    edit(m)
    with pytest.raises(DataValidationError, match=r'^s: lidar2cam is not a rigid|^s: lidar2cam '
                                                  r'(contains|translates)') as info:
        check_rigid_transform(m, where='s', max_translation=100.0)
    assert re.search(problem, str(info.value)), str(info.value)
    np.testing.assert_array_equal(check_rigid_transform(_rot(30), max_translation=100), _rot(30))


def test_lidar_columns(tmp_path):
    rng = np.random.default_rng(0)
    n = 1000
    pts = np.column_stack([rng.uniform(-50, 50, (n, 2)), rng.uniform(-3, 5, n),
                           rng.integers(0, 256, n), rng.integers(0, 32, n)]).astype(np.float32)
    np.testing.assert_array_equal(check_lidar_points(pts), pts)
    # The same bytes read as 4 per point: z of every 4th point lands in the intensity column.
    with pytest.raises(DataValidationError, match=r'column 3 \(intensity\) must lie in '
                                                  r'\[0, 255\].*KITTI'):
        check_lidar_points(pts.reshape(-1, 4), where='x.bin')
    pts[5, 4] = 3.5
    with pytest.raises(DataValidationError, match=r'column 4 \(ring\) must hold integer beam '
                                                  r'indices but 1 of 1000 rows do not '
                                                  r'\(row 5: 3\.5\)'):
        check_lidar_points(pts)
    pts[5, 4] = 3
    pts[9, 0] = 5e4
    with pytest.raises(DataValidationError, match=r'column 0 \(x\) must lie in \[-1000, 1000\]'):
        check_lidar_points(pts)
    check_lidar_points(pts, max_range=1e5)
    timed = pts[:, :5].copy()
    timed[:, 4] = 0.05
    check_lidar_points(timed, columns=('x', 'y', 'z', 'intensity', 'time'), max_range=1e5)
    with pytest.raises(DataValidationError, match='holds no points'):
        check_lidar_points(np.zeros((0, 5), np.float32))
    with pytest.raises(ValueError, match='columns must name 5 roles'):
        check_lidar_points(pts, columns=('x', 'y', 'z'))


def test_kitti_file_read_as_nuscenes_is_refused(kitti_sample_dir, tmp_path):
    points = load_lidar_file(kitti_sample_dir / '000008.bin', 4)
    assert points.shape == (17238, 4)
    with pytest.raises(DataValidationError, match=r'000008\.bin.*not a multiple of 4 \* 5'):
        load_lidar_file(kitti_sample_dir / '000008.bin', 5)
    # 17235 points: 275760 bytes divide by 20; the column ranges catch it.
    cut = tmp_path / 'kitti.bin'
    points[:17235].tofile(cut)
    with pytest.raises(DataValidationError,
                       match=r'kitti\.bin.*column \d \((intensity|ring)\) must'):
        load_lidar_file(cut, 5)


def _jpeg(tmp_path, name='a.jpg', shape=(90, 160)):
    path = tmp_path / name
    img = np.random.default_rng(0).integers(0, 255, shape + (3,), dtype=np.uint8)
    cv2.imwrite(str(path), img)
    return path


def test_image_headers(tmp_path):
    jpg = _jpeg(tmp_path)
    png = tmp_path / 'b.png'
    cv2.imwrite(str(png), np.zeros((30, 40, 3), np.uint8))
    assert read_image_size(jpg) == (90, 160) and read_image_size(png) == (30, 40)
    progressive = tmp_path / 'p.jpg'
    cv2.imwrite(str(progressive), cv2.imread(str(jpg)), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert read_image_size(progressive) == (90, 160)
    data = jpg.read_bytes()
    cases = {'empty.jpg': (b'', r'empty \(0 bytes\)'),
             'cut.jpg': (data[:len(data) - 300], 'truncated JPEG'),
             'head.jpg': (data[:100], 'truncated JPEG .*ends inside its header'),
             'junk.jpg': (b'GIF89a' + data[6:], r'neither a JPEG nor a PNG \(starts with '),
             'bad.jpg': (data[:2] + b'\x12' + data[3:], 'corrupt JPEG'),
             'cut.png': (png.read_bytes()[:-20], 'truncated PNG')}
    for name, (content, problem) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataValidationError, match=rf'^s: image file .*{name}.*{problem}'):
            read_image_size(tmp_path / name, where='s')
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        read_image_size(tmp_path / 'gone.jpg')
    assert check_image_file(jpg, (90, 160), cam2img=K) == (90, 160)
    with pytest.raises(DataValidationError, match=r'is 90x160 \(HxW\) but the dataset records '):
        check_image_file(jpg, (900, 1600))
    with pytest.raises(DataValidationError, match=r'a\.jpg.*principal point'):
        check_image_file(jpg, cam2img=K * [[2], [2], [1]])


def test_load_camera_image(tmp_path):
    jpg = _jpeg(tmp_path)
    out = LoadCameraImage()(dict(img_path=str(jpg), cam2img=K, expected_img_shape=(90, 160)))
    assert out['img'].shape == (90, 160, 3)
    (tmp_path / 'z.jpg').write_bytes(b'')
    with pytest.raises(DataValidationError, match=r'sample 2 \(token t, image .*z\.jpg\): '
                                                  r'image file .*z\.jpg.* empty'):
        LoadCameraImage()(dict(img_path=str(tmp_path / 'z.jpg'), sample_idx=2, sample_token='t'))
    with pytest.raises(ValueError, match='does not ignore'):
        LoadCameraImage(ignore_empty=True)


def test_depth_maps():
    cm = np.full((4, 5), 8000, np.uint16)
    check_depth_map(cm, scale=0.01, img_shape=(4, 5))
    with pytest.raises(DataValidationError, match=r'd\.png: holds depths up to 800 m, beyond '
                                                  r'the dataset\'s max_depth 100 m'):
        # 80 m stored in millimetres, read as centimetres
        check_depth_map(cm.astype(np.int32) * 10, scale=0.01, where='d.png')
    with pytest.raises(DataValidationError, match=r'is 4x5 \(HxW\) but the image is 5x4'):
        check_depth_map(cm, scale=0.01, img_shape=(5, 4))
    with pytest.raises(DataValidationError, match='NaN or inf'):
        check_depth_map(np.full((2, 2), np.nan, np.float32))
    with pytest.raises(DataValidationError, match='negative'):
        check_depth_map(-np.ones((2, 2), np.float32))


def test_real_nuscenes_keyframe_passes_every_check(nuscenes_sample_dir):
    # Every camera, its image and the sweep through the full online pipeline with the checks.
    ds = NuScenesCameraDataset(
        data_root=str(nuscenes_sample_dir), ann_file=REAL_PKL, data_prefix={},
        img_shape=(900, 1600),
        pipeline=[dict(type='LoadCameraImage'), dict(type='LoadLidarPoints'),
                  dict(type='ProjectLidarToDepth')])
    for i in range(len(ds)):
        out = ds[i]
        assert out['img'].shape == (900, 1600, 3) and (out['sparse_depth'] > 0).sum() > 1000
    assert len(ds) == 6 and ds.bad_samples == []


def test_real_kitti_frame_passes_every_check(kitti_sample_dir):
    with open(kitti_sample_dir / '000008.pkl', 'rb') as f:
        info = pickle.load(f)['data_list'][0]
    cam = info['images']['CAM2']
    shape = check_image_file(kitti_sample_dir / '000008.png', (cam['height'], cam['width']),
                             cam2img=cam['cam2img'])
    assert shape == (375, 1242)
    check_rigid_transform(cam['lidar2cam'], max_translation=100)
    assert load_lidar_file(kitti_sample_dir / '000008.bin', 4).shape == (17238, 4)


def test_synthetic_dataset_passes_every_check(synthetic_nuscenes):
    samples = load_nuscenes_infos(synthetic_nuscenes / 'nuscenes_infos_train.pkl',
                                  data_prefix=NUSCENES_DATA_PREFIX)
    for sample in samples:
        load_lidar_file(sample.lidar_path, sample.num_pts_feats)
        for cam in sample.cameras.values():
            check_image_file(cam.img_path, cam2img=cam.cam2img)
    # The devkit source (image sizes from the tables) checks its calibration too.
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version='v1.0-synthetic',
                               pipeline=[dict(type='LoadCameraImage')])
    assert all(ds[i]['img'].shape[:2] == ds[i]['expected_img_shape'] for i in range(len(ds)))
