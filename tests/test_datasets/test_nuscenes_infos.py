"""The info-file reader and point loader on the real keyframe and on a generated dataset."""
import copy
import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pytest

from s3pt_mm.datasets.nuscenes_infos import (NUSCENES_DATA_PREFIX, NuScenesCamera,
                                             NuScenesSample, load_nuscenes_infos, load_points)
from s3pt_mm.synthetic import SyntheticConfig, generate_dataset

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'


@pytest.fixture(scope='module')
def tiny_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny_synthetic')
    generate_dataset(str(root), SyntheticConfig(num_scenes=1, samples_per_scene=2, seed=5,
                                                image_size=(160, 90)))
    return root


def _shapes(sample: NuScenesSample) -> dict:
    out = {f.name: np.shape(getattr(sample, f.name)) for f in dataclasses.fields(sample)
           if isinstance(getattr(sample, f.name), np.ndarray)}
    for channel, cam in sample.cameras.items():
        out.update({f'{channel}.{f.name}': np.shape(getattr(cam, f.name))
                    for f in dataclasses.fields(cam)
                    if isinstance(getattr(cam, f.name), np.ndarray)})
    return out


def test_real_and_synthetic_give_the_same_fields(nuscenes_sample_dir, tiny_dataset):
    real = load_nuscenes_infos(nuscenes_sample_dir / REAL_PKL)
    ours = load_nuscenes_infos(tiny_dataset / 'nuscenes_infos_train.pkl',
                               data_prefix=NUSCENES_DATA_PREFIX)
    assert len(real) == 1 and len(ours) == 2
    r, o = real[0], ours[0]
    assert list(r.cameras) == list(o.cameras) == ['CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT',
                                                  'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_BACK_RIGHT']
    shapes_r, shapes_o = _shapes(r), _shapes(o)
    # Same matrices with the same shapes; box arrays differ only in the number of boxes.
    assert set(shapes_r) == set(shapes_o)
    for key in shapes_r:
        if key in ('boxes_3d', 'labels_3d', 'velocities', 'num_lidar_pts'):
            assert shapes_r[key][1:] == shapes_o[key][1:]
        else:
            assert shapes_r[key] == shapes_o[key]
    assert shapes_r['CAM_FRONT.cam2img'] == (3, 3) and shapes_r['lidar2ego'] == (4, 4)
    assert r.boxes_3d.shape == (69, 7) and r.num_pts_feats == o.num_pts_feats == 5
    # Absolute, existing paths: real files lie beside the pkl, ours under samples/<CHANNEL>.
    # Same file (the data folder may be reached through a symbolic link).
    assert Path(r.cameras['CAM_FRONT'].img_path).resolve() == (
        nuscenes_sample_dir / 'n015-2018-07-24-11-22-45+0800__CAM_FRONT__1532402927612460.jpg'
    ).resolve()
    assert '/samples/CAM_BACK/' in o.cameras['CAM_BACK'].img_path
    # Same calibration for the same rig (intrinsics scaled by 160 / 1600).
    np.testing.assert_allclose(o.cameras['CAM_FRONT'].cam2img[0, 0],
                               r.cameras['CAM_FRONT'].cam2img[0, 0] * 0.1, rtol=1e-5)
    np.testing.assert_allclose(o.cameras['CAM_FRONT'].cam2ego, r.cameras['CAM_FRONT'].cam2ego,
                               atol=1e-4)
    np.testing.assert_allclose(o.lidar2ego, r.lidar2ego, atol=1e-4)
    # Points load the same way; the real sweep has 34,688 points.
    assert load_points(r.lidar_path).shape == (34688, 5)
    assert load_points(o.lidar_path).shape[1] == 5


def test_values_of_the_real_keyframe(nuscenes_sample_dir):
    s = load_nuscenes_infos(nuscenes_sample_dir / REAL_PKL)[0]
    assert s.token == 'ca9a282c9e77460f8360f564131a8af5'
    front = s.cameras['CAM_FRONT']
    np.testing.assert_allclose(front.cam2img[[0, 0, 1], [0, 2, 2]], [1266.417, 816.267, 491.507],
                               atol=1e-3)
    assert s.labels_3d[0] == 7 and s.num_lidar_pts[0] == 1
    np.testing.assert_allclose(s.velocities[1], [0.0357412927333759, 1.258390282897789])
    # lidar2img = [K 0; 0 1] @ lidar2cam: projecting a point through both agrees.
    p = np.array([10.0, 20.0, -1.0, 1.0])
    cam = front.lidar2cam @ p
    uvz = front.lidar2img @ p
    np.testing.assert_allclose(uvz[:2] / uvz[2], (front.cam2img @ cam[:3])[:2] / cam[2])


def test_relative_paths_resolve_against_data_root(tiny_dataset, tmp_path):
    pkl = tmp_path / 'elsewhere.pkl'
    pkl.write_bytes((tiny_dataset / 'nuscenes_infos_train.pkl').read_bytes())
    samples = load_nuscenes_infos(pkl, data_root=tiny_dataset, data_prefix=NUSCENES_DATA_PREFIX)
    assert samples[0].lidar_path.startswith(str(tiny_dataset))
    with pytest.raises(FileNotFoundError, match='data_prefix=NUSCENES_DATA_PREFIX'):
        load_nuscenes_infos(tiny_dataset / 'nuscenes_infos_train.pkl')
    # Without file checks the bare names still resolve (to the non-existing root/name).
    unchecked = load_nuscenes_infos(tiny_dataset / 'nuscenes_infos_train.pkl', check_files=False)
    assert unchecked[0].lidar_path.endswith('.pcd.bin')


def _broken(tiny_dataset, tmp_path, edit):
    with open(tiny_dataset / 'nuscenes_infos_train.pkl', 'rb') as f:
        infos = pickle.load(f)
    infos = copy.deepcopy(infos)
    edit(infos['data_list'][1])
    path = tmp_path / 'broken.pkl'
    with open(path, 'wb') as f:
        pickle.dump(infos, f)
    return path, infos['data_list'][1]['token']


@pytest.mark.parametrize('edit, key, problem', [
    (lambda d: d['images']['CAM_BACK'].pop('lidar2cam'), 'images.CAM_BACK.lidar2cam', 'missing'),
    (lambda d: d['images']['CAM_FRONT'].__setitem__('cam2img', [[1, 0], [0, 1]]),
     'images.CAM_FRONT.cam2img', r'shape \(3, 3\)'),
    (lambda d: d.pop('ego2global'), 'ego2global', 'missing'),
    (lambda d: d['lidar_points'].__setitem__('lidar2ego', np.zeros((4, 4)).tolist()),
     'lidar_points.lidar2ego', 'rigid'),
    (lambda d: d['instances'][0].__setitem__('bbox_3d', [1, 2, 3]), 'instances[0].bbox_3d', '7'),
    (lambda d: d['instances'][0].pop('bbox_label_3d'), 'instances[0].bbox_label_3d', 'missing'),
])
def test_errors_name_pkl_sample_and_key(tiny_dataset, tmp_path, edit, key, problem):
    path, token = _broken(tiny_dataset, tmp_path, edit)
    with pytest.raises(ValueError) as info:
        load_nuscenes_infos(path, data_root=tiny_dataset, data_prefix=NUSCENES_DATA_PREFIX)
    message = str(info.value)
    assert str(path) in message and 'data_list[1]' in message and token in message
    assert key in message
    assert pytest.importorskip('re').search(problem, message)


def test_not_an_info_file(tmp_path):
    path = tmp_path / 'list.pkl'
    with open(path, 'wb') as f:
        pickle.dump([1, 2], f)
    with pytest.raises(ValueError, match='not an mmdet3d 1.x info file'):
        load_nuscenes_infos(path)
    with pytest.raises(FileNotFoundError, match='missing.pkl'):
        load_nuscenes_infos(tmp_path / 'missing.pkl')


def test_load_points_checks_size(tmp_path):
    pts = np.arange(30, dtype=np.float32).reshape(6, 5)
    good = tmp_path / 'good.pcd.bin'
    pts.tofile(good)
    np.testing.assert_array_equal(load_points(good), pts)
    np.testing.assert_array_equal(load_points(good, num_feats=3), pts.reshape(-1, 3))
    truncated = tmp_path / 'truncated.pcd.bin'
    truncated.write_bytes(good.read_bytes()[:-4])
    with pytest.raises(ValueError, match=r'116 bytes, not a multiple of 4 \* 5'):
        load_points(truncated)
    with pytest.raises(FileNotFoundError, match='nope.pcd.bin'):
        load_points(tmp_path / 'nope.pcd.bin')
    with pytest.raises(ValueError, match='num_feats'):
        load_points(good, num_feats=0)


def test_camera_record_is_frozen(tiny_dataset):
    sample = load_nuscenes_infos(tiny_dataset / 'nuscenes_infos_train.pkl',
                                 data_prefix=NUSCENES_DATA_PREFIX)[0]
    assert isinstance(sample.cameras['CAM_FRONT'], NuScenesCamera)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.token = 'x'
