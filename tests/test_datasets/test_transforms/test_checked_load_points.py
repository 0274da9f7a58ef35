"""CheckedLoadPointsFromFile / CheckedLoadPointsFromMultiSweeps: mmdet3d's outputs on good files,
errors naming sample, token and file on broken ones."""
import numpy as np
import pytest
from mmdet3d.datasets.transforms import LoadPointsFromFile, LoadPointsFromMultiSweeps

from s3pt_mm.datasets import DataValidationError
from s3pt_mm.datasets.transforms3d import (CheckedLoadPointsFromFile,
                                           CheckedLoadPointsFromMultiSweeps)
from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos


@pytest.fixture(scope='module')
def sweep_path(synthetic_nuscenes):
    return load_nuscenes_infos(synthetic_nuscenes / 'nuscenes_infos_train.pkl',
                               data_prefix=NUSCENES_DATA_PREFIX)[0].lidar_path


def _results(path):
    return dict(lidar_points=dict(lidar_path=str(path)), sample_idx=3, token='tok3',
                timestamp=1.0)


def test_same_points_as_mmdet3d(sweep_path):
    kwargs = dict(coord_type='LIDAR', load_dim=5, use_dim=5)
    ours = CheckedLoadPointsFromFile(**kwargs)(_results(sweep_path))['points'].tensor
    ref = LoadPointsFromFile(**kwargs)(_results(sweep_path))['points'].tensor
    assert ours.shape[0] > 1000 and (ours == ref).all()
    sweeps = [dict(lidar_points=dict(lidar_path=str(sweep_path), lidar2sensor=np.eye(4)),
                   timestamp=0.95)]
    multi = dict(sweeps_num=1, test_mode=True)
    a = CheckedLoadPointsFromMultiSweeps(**multi)(
        dict(CheckedLoadPointsFromFile(**kwargs)(_results(sweep_path)), lidar_sweeps=sweeps))
    b = LoadPointsFromMultiSweeps(**multi)(
        dict(LoadPointsFromFile(**kwargs)(_results(sweep_path)), lidar_sweeps=sweeps))
    assert (a['points'].tensor == b['points'].tensor).all()
    assert a['points'].tensor.shape[0] == 2 * ours.shape[0]


def test_broken_files_name_sample_and_file(sweep_path, tmp_path):
    load = CheckedLoadPointsFromFile(coord_type='LIDAR', load_dim=5, use_dim=5)
    pts = np.fromfile(sweep_path, np.float32).reshape(-1, 5)
    n = len(pts) - len(pts) % 5
    kitti = tmp_path / 'kitti.bin'  # x, y, z, reflectance rows: bytes divide by 20
    np.concatenate([pts[:n, :3], pts[:n, 3:4] / 255], axis=1).astype(np.float32).tofile(kitti)
    with pytest.raises(DataValidationError, match=r'sample 3 \(token tok3\): LiDAR file '
                                                  r'.*kitti\.bin.*column \d \((intensity|ring)\)'):
        load(_results(kitti))
    cut = tmp_path / 'cut.bin'
    cut.write_bytes(open(sweep_path, 'rb').read()[:-6])
    with pytest.raises(DataValidationError, match=r'tok3.*cut\.bin.*not a multiple of 4 \* 5'):
        load(_results(cut))
    with pytest.raises(FileNotFoundError, match=r'tok3.*gone\.bin'):
        load(_results(tmp_path / 'gone.bin'))
    nan = tmp_path / 'nan.bin'
    bad = pts.copy()
    bad[4, 0] = np.nan
    bad.tofile(nan)
    with pytest.raises(DataValidationError, match=r'nan\.bin.*1 row\(s\) with NaN'):
        load(_results(nan))
    dropped = CheckedLoadPointsFromFile(coord_type='LIDAR', load_dim=5, use_dim=5,
                                        drop_nonfinite=True)(_results(nan))['points']
    assert dropped.tensor.shape[0] == len(pts) - 1
    sweeps = [dict(lidar_points=dict(lidar_path=str(kitti), lidar2sensor=np.eye(4)),
                   timestamp=0.95)]
    with pytest.raises(DataValidationError, match=r'tok3\): sweep: LiDAR file .*kitti\.bin'):
        CheckedLoadPointsFromMultiSweeps(sweeps_num=1, test_mode=True)(
            dict(load(_results(sweep_path)), lidar_sweeps=sweeps))
