"""The mmdet3d info pkl: same key set as the real one, boxes/velocities as mmdet3d's converter."""
import pickle

import numpy as np
import pytest

from s3pt_mm.synthetic.info_pkl import image_bbox, pyquaternion_yaw

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'


def _load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


def _key_tree(info):
    """Key sets of every level of an info entry."""
    cams = sorted(info['images'])
    tree = {'top': set(info), 'images': set(cams),
            'image': set().union(*(info['images'][c] for c in cams)),
            'lidar_points': set(info['lidar_points']),
            'instance': set().union(*(set(i) for i in info['instances'])),
            'cam_instances': set(info['cam_instances']),
            'cam_instance': set().union(*(set(i) for c in cams for i in info['cam_instances'][c]))}
    return tree


def test_same_layout_as_real_pkl(synthetic_dataset, nuscenes_sample_dir):
    real = _load(nuscenes_sample_dir / REAL_PKL)
    ours = _load(synthetic_dataset.root / 'nuscenes_infos_train.pkl')
    assert set(ours) == set(real) == {'metainfo', 'data_list'}
    assert set(ours['metainfo']) == set(real['metainfo'])
    assert ours['metainfo']['categories'] == real['metainfo']['categories']
    assert ours['metainfo']['info_version'] == real['metainfo']['info_version'] == '1.1'
    assert _key_tree(ours['data_list'][0]) == _key_tree(real['data_list'][0])
    # Same plain-Python value types (mmdet3d writes lists, not arrays).
    for key in ('ego2global', 'timestamp', 'token', 'sample_idx'):
        assert type(ours['data_list'][0][key]) is type(real['data_list'][0][key])


def _points_in_boxes(points, boxes, margin=0.0, lift=0.0):
    """Count points in (x, y, z, l, w, h, yaw) gravity-centre boxes, enlarged by ``margin``."""
    counts = []
    for x, y, z, l, w, h, yaw in boxes:
        p = points[:, :3] - [x, y, z]
        c, s = np.cos(yaw), np.sin(yaw)
        lx, ly = c * p[:, 0] + s * p[:, 1], -s * p[:, 0] + c * p[:, 1]
        inside = ((np.abs(lx) <= l / 2 + margin) & (np.abs(ly) <= w / 2 + margin)
                  & (p[:, 2] <= h / 2 + margin) & (p[:, 2] >= -h / 2 + lift))
        counts.append(int(inside.sum()))
    return np.array(counts)


def test_real_pkl_box_convention(nuscenes_sample_dir):
    """In the real pkl, bbox_3d (gravity centre, l/w/h, yaw) holds exactly its num_lidar_pts."""
    info = _load(nuscenes_sample_dir / REAL_PKL)['data_list'][0]
    pts = np.fromfile(nuscenes_sample_dir / info['lidar_points']['lidar_path'],
                      dtype=np.float32).reshape(-1, 5)
    boxes = np.array([i['bbox_3d'] for i in info['instances']])
    n = np.array([i['num_lidar_pts'] for i in info['instances']])
    counts = _points_in_boxes(pts, boxes)
    # nuScenes counts points of a full sweep over time; the stored sweep matches within 1-3 pts.
    assert np.abs(counts - n).sum() <= 0.05 * n.sum()
    swapped = boxes.copy()
    swapped[:, 6] = -boxes[:, 6] - np.pi / 2  # the mmdet3d 0.x convention would not fit
    assert np.abs(_points_in_boxes(pts, swapped) - n).sum() > 5 * np.abs(counts - n).sum()


def test_num_lidar_pts_counts_the_points_in_each_box(nusc):
    """num_lidar_pts = LiDAR returns inside the nuScenes box (checked in the global frame, where
    boxes are upright; in the slightly tilted LiDAR frame a yaw-only box leans by ~1 deg)."""
    from pyquaternion import Quaternion
    total, diff = 0, 0
    for sample in nusc.sample:
        sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        pts = np.fromfile(nusc.get_sample_data_path(sd['token']), dtype=np.float32)
        xyz = pts.reshape(-1, 5)[:, :3].astype(np.float64)
        xyz = xyz @ Quaternion(cs['rotation']).rotation_matrix.T + cs['translation']
        xyz = xyz @ Quaternion(pose['rotation']).rotation_matrix.T + pose['translation']
        for token in sample['anns']:
            ann = nusc.get('sample_annotation', token)
            box = nusc.get_box(token)
            local = (xyz - box.center) @ box.rotation_matrix
            w, l, h = box.wlh
            # 1 cm margin for float32 points on the faces; the bottom face is lifted 1 cm so the
            # ground / curb the actor stands on does not count.
            inside = ((np.abs(local[:, 0]) <= l / 2 + 0.01) & (np.abs(local[:, 1]) <= w / 2 + 0.01)
                      & (local[:, 2] <= h / 2 + 0.01) & (local[:, 2] >= -h / 2 + 0.01))
            total += ann['num_lidar_pts']
            diff += abs(int(inside.sum()) - ann['num_lidar_pts'])
            n = ann['num_lidar_pts']
            assert abs(int(inside.sum()) - n) <= max(5, 0.05 * n)
    print(f'num_lidar_pts vs points in box: {diff} of {total}')
    assert total > 10000 and diff <= 0.005 * total


def test_instances_match_devkit_annotations(nusc, synthetic_dataset):
    """bbox_3d / velocity = the devkit box moved into the LiDAR frame, as mmdet3d converts."""
    from pyquaternion import Quaternion
    infos = _load(synthetic_dataset.root / 'nuscenes_infos_train.pkl')['data_list']
    checked = 0
    for info in infos:
        sample = nusc.get('sample', info['token'])
        sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        e2g, l2e = Quaternion(pose['rotation']), Quaternion(cs['rotation'])
        assert len(sample['anns']) == len(info['instances'])
        for ann_token, inst in zip(sample['anns'], info['instances']):
            box = nusc.get_box(ann_token)
            box.translate(-np.array(pose['translation']))
            box.rotate(e2g.inverse)
            box.translate(-np.array(cs['translation']))
            box.rotate(l2e.inverse)
            w, l, h = box.wlh
            np.testing.assert_allclose(inst['bbox_3d'][:6], [*box.center, l, w, h], atol=1e-6)
            assert inst['bbox_3d'][6] == pytest.approx(box.orientation.yaw_pitch_roll[0], abs=1e-9)
            velo = np.array([*nusc.box_velocity(ann_token)[:2], 0.0])
            velo = (velo @ np.linalg.inv(e2g.rotation_matrix).T
                    @ np.linalg.inv(l2e.rotation_matrix).T)
            np.testing.assert_allclose(inst['velocity'], velo[:2], atol=1e-6)
            assert inst['bbox_label_3d'] in range(10)
            checked += 1
    assert checked > 50


def test_cam_instances_geometry(synthetic_dataset):
    info = _load(synthetic_dataset.root / 'nuscenes_infos_train.pkl')['data_list'][0]
    width, height = synthetic_dataset.config.image_size
    total = 0
    for channel, cam in info['images'].items():
        k = np.array(cam['cam2img'])
        for inst in info['cam_instances'][channel]:
            x1, y1, x2, y2 = inst['bbox']
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            center = np.array(inst['bbox_3d'][:3])
            uv = k @ center
            np.testing.assert_allclose(inst['center_2d'], uv[:2] / uv[2], atol=1e-6)
            assert inst['depth'] == pytest.approx(center[2]) and center[2] > 0
            total += 1
    assert total > 10


def test_image_bbox_clips_hull_like_mmdet3d():
    k = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    # A unit square at depth 10 centred on the optical axis: pixels 45..55.
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (10, 10.0)])
    np.testing.assert_allclose(image_bbox(corners, k, 100, 100), [45, 45, 55, 55])
    # Shifted half out of the image on the right: clipped at x = 100.
    shifted = corners + [5.0, 0, 0]
    np.testing.assert_allclose(image_bbox(shifted, k, 100, 100), [95, 45, 100, 55])
    # Entirely behind the camera: no box.
    assert image_bbox(corners * [1, 1, -1], k, 100, 100) is None


def test_pyquaternion_yaw_formula():
    pyquaternion = pytest.importorskip('pyquaternion')
    rng = np.random.default_rng(0)
    for _ in range(20):
        q = pyquaternion.Quaternion(*rng.normal(size=4)).normalised
        assert pyquaternion_yaw(q.rotation_matrix) == pytest.approx(q.yaw_pitch_roll[0], abs=1e-9)


def test_mmdet3d_nuscenes_dataset_reads_the_pkl(synthetic_dataset):
    """mmdet3d's own NuScenesDataset + loading pipeline consume the generated info file."""
    pytest.importorskip('mmdet3d', reason='mmdet3d not installed')
    from mmdet3d.datasets import NuScenesDataset
    from mmdet3d.datasets.transforms import (LoadAnnotations3D, LoadMultiViewImageFromFiles,
                                             LoadPointsFromFile, Pack3DDetInputs)
    from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX
    # Transform classes, not names: no registry default scope is touched.
    pipeline = [
        dict(type=LoadPointsFromFile, coord_type='LIDAR', load_dim=5, use_dim=5),
        dict(type=LoadMultiViewImageFromFiles, to_float32=True, num_views=6),
        dict(type=LoadAnnotations3D, with_bbox_3d=True, with_label_3d=True),
        dict(type=Pack3DDetInputs, keys=['points', 'img', 'gt_bboxes_3d', 'gt_labels_3d']),
    ]
    dataset = NuScenesDataset(data_root=str(synthetic_dataset.root),
                              ann_file='nuscenes_infos_train.pkl',
                              data_prefix=dict(NUSCENES_DATA_PREFIX),
                              modality=dict(use_camera=True, use_lidar=True), pipeline=pipeline)
    infos = _load(synthetic_dataset.root / 'nuscenes_infos_train.pkl')['data_list']
    assert len(dataset) == len(infos)
    width, height = synthetic_dataset.config.image_size
    item = dataset[0]
    points = np.fromfile(synthetic_dataset.root / 'samples' / 'LIDAR_TOP'
                         / infos[0]['lidar_points']['lidar_path'], dtype=np.float32)
    assert tuple(item['inputs']['points'].shape) == (points.size // 5, 5)
    assert tuple(item['inputs']['img'].shape) == (6, 3, height, width)
    boxes = item['data_samples'].gt_instances_3d.bboxes_3d
    # mmdet3d keeps the boxes with num_lidar_pts > 0 (use_valid_flag=False).
    ours = np.array([i['bbox_3d'] for i in infos[0]['instances'] if i['num_lidar_pts'] > 0])
    assert len(boxes) == len(ours) > 10
    # mmdet3d moves the stored gravity centre to the bottom centre: z - h / 2.
    np.testing.assert_allclose(boxes.tensor[:, 2].numpy(), ours[:, 2] - ours[:, 5] / 2, atol=1e-5)
    np.testing.assert_allclose(boxes.gravity_center.numpy(), ours[:, :3], atol=1e-5)
