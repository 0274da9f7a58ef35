"""LoadLidarPoints: sweeps load as float32 rows; broken files fail naming the sample and file."""
import numpy as np
import pytest

from s3pt_mm.datasets import LoadLidarPoints, NuScenesCameraDataset


@pytest.fixture()
def item(synthetic_nuscenes):
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes),
                               ann_file='nuscenes_infos_train.pkl')
    return ds.get_data_info(0)


def _write(path, points):
    np.asarray(points, np.float32).tofile(path)
    return str(path)


def test_loads_the_sweep_file(item):
    out = LoadLidarPoints()(dict(item))
    raw = np.fromfile(item['lidar_path'], np.float32).reshape(-1, 5)
    np.testing.assert_array_equal(out['points'], raw)
    assert out['points'].shape[1] == 5 and len(raw) > 1000


def test_missing_and_truncated_files(item, tmp_path):
    missing = dict(item, lidar_path=str(tmp_path / 'gone.pcd.bin'))
    with pytest.raises(FileNotFoundError, match=r'sample 0 \(token .*gone\.pcd\.bin'):
        LoadLidarPoints()(missing)
    raw = np.fromfile(item['lidar_path'], np.uint8)
    cut = tmp_path / 'cut.pcd.bin'
    raw[:-7].tofile(cut)  # 7 bytes short of a whole number of 5-float points
    with pytest.raises(ValueError, match=r'CAM_FRONT.*cut\.pcd\.bin.*not a multiple of 4 \* 5'):
        LoadLidarPoints()(dict(item, lidar_path=str(cut)))
    with pytest.raises(KeyError, match='no lidar_path'):
        LoadLidarPoints()(dict(img_path='a.jpg'))


def test_nonfinite_rows_raise_or_are_dropped(item, tmp_path):
    points = np.arange(40, dtype=np.float32).reshape(8, 5)
    points[2, 0] = np.nan
    points[5, 2] = np.inf
    points[6, 3] = np.nan  # intensity only: a corrupt row all the same
    path = _write(tmp_path / 'nan.pcd.bin', points)
    with pytest.raises(ValueError,
                       match=r'nan\.pcd\.bin.* 3 row\(s\) with NaN or inf.*\[2, 5, 6\]'):
        LoadLidarPoints()(dict(item, lidar_path=path))
    out = LoadLidarPoints(drop_nonfinite=True)(dict(item, lidar_path=path))
    np.testing.assert_array_equal(out['points'], points[[0, 1, 3, 4, 7]])


def test_foreign_layout_is_refused(item, tmp_path):
    # KITTI's x, y, z, reflectance rows (5 points: 80 bytes, divisible by 20) read as 5 floats.
    kitti = np.array([[10.0, -2.0, -1.5, 0.3]] * 5, np.float32)
    path = _write(tmp_path / 'kitti.bin', kitti)
    with pytest.raises(ValueError, match=r'sample 0 .*kitti\.bin.*column 3 \(intensity\)'):
        LoadLidarPoints()(dict(item, lidar_path=path))
    # Declared as KITTI's layout it loads.
    out = LoadLidarPoints()(dict(item, lidar_path=path, num_pts_feats=4))
    np.testing.assert_array_equal(out['points'], kitti)
