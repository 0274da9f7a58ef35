"""NuScenesCameraDataset: both sources give the same items; the full pipeline runs on the real
keyframe and on generated scenes; camera sweeps pair with the nearest LiDAR; bad data is named."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain.datasets.transforms import PackInputs

from s3pt_mm.datasets import NUSCENES_CAMERAS, NuScenesCameraDataset
from s3pt_mm.datasets.view_geometry import CropBox, crop_depth_nearest, token_depths

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'
VERSION = 'v1.0-synthetic'
ONLINE_DEPTH = [dict(type='LoadImageFromFile'), dict(type='LoadLidarPoints'),
                dict(type='ProjectLidarToDepth'), dict(type='CompleteDepth', keep_sparse=True)]
PACK = PackInputs(algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'])


def _devkit_copy(src: Path, dst: Path, edit) -> Path:
    """A copy of the dataset's tables (sensor files linked), ``edit(tables)`` applied."""
    dst.mkdir()
    for name in ('samples', 'maps', 'depth_gt'):
        (dst / name).symlink_to(src / name)
    (dst / VERSION).mkdir()
    tables = {p.stem: json.loads(p.read_text()) for p in (src / VERSION).glob('*.json')}
    edit(tables)
    for name, rows in tables.items():
        (dst / VERSION / f'{name}.json').write_text(json.dumps(rows))
    return dst


def test_info_file_and_devkit_give_the_same_items(synthetic_nuscenes):
    from_pkl = NuScenesCameraDataset(data_root=str(synthetic_nuscenes),
                                     ann_file='nuscenes_infos_train.pkl')
    from_devkit = NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version=VERSION)
    assert len(from_pkl) == len(from_devkit) == 2 * 6
    for i in range(len(from_pkl)):
        a, b = from_pkl.get_data_info(i), from_devkit.get_data_info(i)
        assert a['channel'] == b['channel'] == NUSCENES_CAMERAS[i % 6]
        for key in ('img_path', 'lidar_path', 'sample_token', 'sample_data_token',
                    'num_pts_feats'):
            assert a[key] == b[key], key
        assert a['timestamp'] == pytest.approx(b['timestamp'], abs=1e-6)
        np.testing.assert_allclose(a['cam2img'], b['cam2img'], atol=1e-9)
        # The devkit chain lidar -> ego -> global -> ego -> cam reproduces the pkl's lidar2cam.
        np.testing.assert_allclose(a['lidar2cam'], b['lidar2cam'], atol=1e-9)
        assert a['expected_img_shape'] is None and b['expected_img_shape'] == (180, 320)
        assert b['is_key_frame'] and 'depth_path' not in a


def test_split_and_cameras_select_items(synthetic_nuscenes):
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version=VERSION,
                               split=['scene-0000'], cameras=['CAM_BACK', 'CAM_FRONT'])
    assert [ds.get_data_info(i)['channel'] for i in range(len(ds))] == ['CAM_BACK',
                                                                        'CAM_FRONT'] * 2
    with pytest.raises(ValueError, match="split \\['scene-9'\\] selects no scene"):
        NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version=VERSION,
                              split=['scene-9'])
    with pytest.raises(ValueError, match="unknown split 'tran'"):
        NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version=VERSION, split='tran')


def test_pipeline_on_the_real_keyframe(nuscenes_sample_dir, capsys):
    ds = NuScenesCameraDataset(
        data_root=str(nuscenes_sample_dir), ann_file=REAL_PKL, data_prefix={},
        img_shape=(900, 1600),
        pipeline=ONLINE_DEPTH + [dict(type='MultiCropWithDepth')])
    assert len(ds) == 6
    np.random.seed(0)
    valid_fraction, rel_errors = [], []
    for i in range(len(ds)):
        results = ds[i]
        packed = PACK(results)  # the data contract
        sample = packed['data_samples']
        assert [tuple(x.shape) for x in packed['inputs']] == [(3, 224, 224)] * 2
        assert sample.token_pos.shape == (2, 196, 2)
        assert torch.equal(sample.token_depth, results['token_depth'])
        valid_fraction.append(sample.token_depth_valid.float().mean().item())
        # Tokens whose patch holds LiDAR pixels: completed token depth vs. the mean LiDAR depth.
        for v in range(2):
            x0, y0, x1, y1 = results['crop_boxes'][v].tolist()
            box = CropBox(x0, y0, x1 - x0, y1 - y0, 224, 224, bool(results['crop_flips'][v]))
            lidar = crop_depth_nearest(results['sparse_depth'], box)
            blocks = lidar.reshape(14, 16, 14, 16).transpose(0, 2, 1, 3).reshape(196, -1)
            hit = (blocks > 0).sum(1)
            mean = np.where(hit > 0, blocks.sum(1) / np.maximum(hit, 1), 0)
            has = hit > 0
            token = sample.token_depth[v].numpy()
            assert sample.token_depth_valid[v].numpy()[has].all()
            rel_errors.append(np.abs(token[has] - mean[has]) / mean[has])
    rel = np.concatenate(rel_errors)
    # Extrapolated completion gives (almost) every token a depth on real nuScenes ...
    assert min(valid_fraction) > 0.85 and np.mean(valid_fraction) > 0.95
    # ... that agrees with the LiDAR points inside the patch (the patch mean also covers the
    # completed pixels between the points, which can belong to other surfaces).
    assert np.median(rel) < 0.1
    with capsys.disabled():
        print(f'\n[real keyframe] valid tokens {np.mean(valid_fraction):.3f} (min '
              f'{min(valid_fraction):.3f}); token depth vs mean LiDAR depth of the patch: median '
              f'rel. error {np.median(rel):.3f}, 90th pct {np.percentile(rel, 90):.3f} '
              f'({rel.size} tokens)')


def test_pipeline_on_generated_scenes(synthetic_nuscenes, gt_depth_of, capsys):
    ds = NuScenesCameraDataset(
        data_root=str(synthetic_nuscenes), version=VERSION,
        pipeline=ONLINE_DEPTH + [dict(type='MultiCropWithDepth', global_crop_size=112)])
    np.random.seed(1)
    rel = []
    for i in range(len(ds)):
        results = ds[i]
        gt = gt_depth_of(synthetic_nuscenes, ds.get_data_info(i))
        # The same crops on the ground truth: LiDAR-completed tokens vs. true tokens.
        for v in range(2):
            x0, y0, x1, y1 = results['crop_boxes'][v].tolist()
            box = CropBox(x0, y0, x1 - x0, y1 - y0, 112, 112, bool(results['crop_flips'][v]))
            true, true_valid = token_depths(crop_depth_nearest(gt, box), 16)
            ours = results['token_depth'][v].numpy()
            both = true_valid & results['token_depth_valid'][v].numpy()
            rel.append(np.abs(ours[both] - true[both]) / true[both])
    rel = np.concatenate(rel)
    assert np.median(rel) < 0.1
    with capsys.disabled():
        print(f'\n[synthetic] LiDAR-completed token depth vs ground-truth token depth: median '
              f'rel. error {np.median(rel):.3f}, 90th pct {np.percentile(rel, 90):.3f}')


def test_camera_sweeps_pair_with_the_nearest_lidar(synthetic_nuscenes, tmp_path):
    base = NuScenesCameraDataset(data_root=str(synthetic_nuscenes), version=VERSION)
    key = base.get_data_info(0)  # CAM_FRONT of the first keyframe

    def add_sweeps(tables):
        by_token = {r['token']: r for r in tables['sample_data']}
        cam = by_token[key['sample_data_token']]
        lidar = next(r for r in tables['sample_data']
                     if r['sample_token'] == cam['sample_token'] and 'LIDAR' in r['filename'])
        pose = next(p for p in tables['ego_pose'] if p['token'] == lidar['ego_pose_token'])
        moved = dict(pose, token='pose-sweep', timestamp=pose['timestamp'] + 200_000,
                     translation=[pose['translation'][0] + 1.0, *pose['translation'][1:]])
        tables['ego_pose'].append(moved)
        tables['sample_data'] += [
            dict(lidar, token='lidar-sweep', is_key_frame=False, ego_pose_token='pose-sweep',
                 timestamp=lidar['timestamp'] + 200_000, prev='', next=''),
            dict(cam, token='cam-sweep', is_key_frame=False,
                 timestamp=cam['timestamp'] + 150_000, prev='', next='')]

    root = _devkit_copy(synthetic_nuscenes, tmp_path / 'with_sweeps', add_sweeps)
    ds = NuScenesCameraDataset(data_root=str(root), version=VERSION, with_sweeps=True)
    assert len(ds) == len(base) + 1
    sweep = ds.get_data_info(len(ds) - 1)
    assert sweep['sample_data_token'] == 'cam-sweep' and not sweep['is_key_frame']
    assert sweep['timestamp'] == pytest.approx(key['timestamp'] + 0.15)
    # Paired with the LiDAR sweep 0.05 s away (not the keyframe 0.15 s away), whose ego pose is
    # 1 m further along global x: same rotation, translation moved by R_global->cam (1, 0, 0).
    np.testing.assert_allclose(sweep['lidar2cam'][:3, :3], key['lidar2cam'][:3, :3], atol=1e-9)
    global2cam = np.linalg.inv(key_cam2global(root, key['sample_data_token']))
    np.testing.assert_allclose(sweep['lidar2cam'][:3, 3] - key['lidar2cam'][:3, 3],
                               global2cam[:3, :3] @ [1.0, 0.0, 0.0], atol=1e-9)
    assert len(NuScenesCameraDataset(data_root=str(root), version=VERSION)) == len(base)


def key_cam2global(root: Path, sd_token: str) -> np.ndarray:
    """cam -> global of a camera sample_data, straight from the JSON tables."""
    from pyquaternion import Quaternion

    def load(name):
        return {r['token']: r for r in json.loads((root / VERSION / f'{name}.json').read_text())}

    sd = load('sample_data')[sd_token]

    def pose(rec):
        m = np.eye(4)
        m[:3, :3] = Quaternion(rec['rotation']).rotation_matrix
        m[:3, 3] = rec['translation']
        return m

    return (pose(load('ego_pose')[sd['ego_pose_token']])
            @ pose(load('calibrated_sensor')[sd['calibrated_sensor_token']]))


def test_image_size_other_than_recorded_is_refused(synthetic_nuscenes, tmp_path):
    def shrink_records(tables):
        for r in tables['sample_data']:
            if r['width']:
                r['width'], r['height'] = 1600, 900

    root = _devkit_copy(synthetic_nuscenes, tmp_path / 'sizes', shrink_records)
    # The recorded size contradicts the calibration already: refused when the dataset is built.
    with pytest.raises(ValueError, match=r'calibrated_sensor \w+ of image .*CAM_FRONT.*\.jpg.*'
                                         r'principal point .* 1600x900 .*another image size'):
        NuScenesCameraDataset(data_root=str(root), version=VERSION, pipeline=ONLINE_DEPTH)
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes),
                               ann_file='nuscenes_infos_train.pkl', img_shape=(900, 1600),
                               pipeline=ONLINE_DEPTH)
    with pytest.raises(ValueError, match='records 900x1600'):
        ds[3]


def test_devkit_intrinsics_of_the_wrong_shape(synthetic_nuscenes, tmp_path):
    def break_intrinsics(tables):
        for r in tables['calibrated_sensor']:
            if r['camera_intrinsic']:
                r['camera_intrinsic'] = r['camera_intrinsic'][:2]

    root = _devkit_copy(synthetic_nuscenes, tmp_path / 'bad_k', break_intrinsics)
    with pytest.raises(ValueError, match=r'calibrated_sensor \w+ of image .*CAM_FRONT.*\.jpg.*'
                                         r'camera_intrinsic must be 3x3, got shape \(2, 3\)'):
        NuScenesCameraDataset(data_root=str(root), version=VERSION)


def _edited_pkl(src: Path, dst: Path, edit) -> Path:
    infos = pickle.loads((src / 'nuscenes_infos_train.pkl').read_bytes())
    edit(infos['data_list'])
    dst.write_bytes(pickle.dumps(infos))
    return dst


def test_info_file_errors_name_pkl_sample_and_key(synthetic_nuscenes, tmp_path):
    root = str(synthetic_nuscenes)

    def bad_calibration(data_list):
        data_list[1]['images']['CAM_BACK']['lidar2cam'] = np.eye(3).tolist()

    pkl = _edited_pkl(synthetic_nuscenes, tmp_path / 'bad_calib.pkl', bad_calibration)
    with pytest.raises(ValueError, match=r'bad_calib\.pkl: data_list\[1\] .*'
                                         r'images\.CAM_BACK\.lidar2cam must have shape \(4, 4\)'):
        NuScenesCameraDataset(data_root=root, ann_file=str(pkl))

    def missing_lidar(data_list):
        data_list[0]['lidar_points']['lidar_path'] = 'gone.pcd.bin'

    pkl = _edited_pkl(synthetic_nuscenes, tmp_path / 'no_lidar.pkl', missing_lidar)
    with pytest.raises(FileNotFoundError, match=r'data_list\[0\].*LIDAR_TOP/gone\.pcd\.bin'):
        NuScenesCameraDataset(data_root=root, ann_file=str(pkl))

    def drop_camera(data_list):
        del data_list[1]['images']['CAM_FRONT_LEFT']

    pkl = _edited_pkl(synthetic_nuscenes, tmp_path / 'five_cams.pkl', drop_camera)
    with pytest.raises(ValueError, match=r"five_cams\.pkl: data_list\[1\] .*no camera\(s\) "
                                         r"\['CAM_FRONT_LEFT'\]"):
        NuScenesCameraDataset(data_root=root, ann_file=str(pkl))
    assert len(NuScenesCameraDataset(data_root=root, ann_file=str(pkl),
                                     cameras=['CAM_FRONT'])) == 2


def test_truncated_sweep_fails_when_loaded(synthetic_nuscenes, tmp_path):
    ds = NuScenesCameraDataset(data_root=str(synthetic_nuscenes),
                               ann_file='nuscenes_infos_train.pkl', pipeline=ONLINE_DEPTH)
    info = ds.get_data_info(0)
    cut = tmp_path / 'cut.pcd.bin'
    cut.write_bytes(Path(info['lidar_path']).read_bytes()[:-4])
    with pytest.raises(ValueError, match=r'sample 0 .*cut\.pcd\.bin.*not a multiple'):
        ds.pipeline(dict(info, lidar_path=str(cut)))


def test_bad_source_arguments(synthetic_nuscenes):
    root = str(synthetic_nuscenes)
    with pytest.raises(ValueError, match='exactly one source'):
        NuScenesCameraDataset(data_root=root)
    with pytest.raises(ValueError, match='exactly one source'):
        NuScenesCameraDataset(data_root=root, ann_file='nuscenes_infos_train.pkl',
                              version=VERSION)
    with pytest.raises(ValueError, match='need the devkit source'):
        NuScenesCameraDataset(data_root=root, ann_file='nuscenes_infos_train.pkl',
                              with_sweeps=True)
    with pytest.raises(FileNotFoundError, match='v1.0-trainval'):
        NuScenesCameraDataset(data_root=root, version='v1.0-trainval')
