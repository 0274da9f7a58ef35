"""Instance-id maps and lane geometry written by the generator (inputs of CM3D)."""
import json
import math
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from s3pt_mm.synthetic.classes import SEMANTIC_ID
from s3pt_mm.synthetic.instance_maps import instance_id_map, lane_poses, read_instance_map


def test_instance_id_map_from_parts():
    part_map = np.array([[-1, 0, 1], [2, 3, -2]])
    part_object = np.array([0, 1, 1, 2])
    object_actor = np.array([-1, 4, 0])
    np.testing.assert_array_equal(instance_id_map(part_map, part_object, object_actor),
                                  [[0, 0, 5], [5, 1, 0]])


def test_lane_poses_follow_the_rotated_street():
    theta = 0.7
    w2g = np.eye(4)
    w2g[:2, :2] = [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    w2g[:2, 3] = [100.0, 50.0]
    lanes = lane_poses(2, 3.5, (0.0, 10.0), w2g, resolution=0.5)
    assert [lane['id'] for lane in lanes] == ['laneR0', 'laneR1', 'laneL0', 'laneL1']
    right0 = np.array(lanes[0]['poses'])
    assert len(right0) == 21
    # first pose: world (0, -1.75) rotated by theta plus the translation; yaw = theta
    expected = w2g[:2, :2] @ [0.0, -1.75] + w2g[:2, 3]
    np.testing.assert_allclose(right0[0, :2], expected, atol=1e-6)
    np.testing.assert_allclose(right0[:, 2], theta, atol=1e-6)
    left1 = np.array(lanes[3]['poses'])
    np.testing.assert_allclose(left1[0, :2], w2g[:2, :2] @ [10.0, 5.25] + w2g[:2, 3], atol=1e-6)
    np.testing.assert_allclose(left1[:, 2], theta - math.pi, atol=1e-6)
    # consecutive poses 0.5 m apart along the driving direction
    step = np.diff(right0[:, :2], axis=0)
    np.testing.assert_allclose(step, np.tile([0.5 * math.cos(theta), 0.5 * math.sin(theta)],
                                             (20, 1)), atol=1e-6)


def test_written_instance_maps_agree_with_labels_and_annotations(synthetic_dataset):
    root = synthetic_dataset.root
    info = pickle.load(open(root / 'nuscenes_infos_train.pkl', 'rb'))['data_list'][0]
    logfile = Path(info['lidar_points']['lidar_path']).name.split('__')[0]
    table = json.loads((root / 'instance' / f'{logfile}.json').read_text())['instances']
    categories = {e['instance_token']: e['detection_name'] for e in table.values()}
    seen = set()
    for cam, image in info['images'].items():
        stem = Path(image['img_path']).stem
        ids = read_instance_map(str(root / 'instance' / cam / f'{stem}.png'))
        sem = np.asarray(Image.open(root / 'semseg' / cam / f'{stem}.png'))
        assert ids.shape == sem.shape
        for value in np.unique(ids[ids > 0]):
            entry = table[str(value)]
            classes = set(np.unique(sem[ids == value]).tolist())
            expected = {SEMANTIC_ID[entry['detection_name']]}
            if entry['detection_name'] == 'bicycle':  # a cyclist's rider is labelled person
                expected.add(SEMANTIC_ID['pedestrian'])
            assert classes <= expected, (cam, value, classes)
            seen.add(entry['instance_token'])
        # every object pixel of the label map belongs to some instance
        names = ('car', 'truck', 'bus', 'pedestrian', 'bicycle', 'traffic_cone', 'barrier')
        objects = np.isin(sem, [SEMANTIC_ID[c] for c in names])
        assert (ids[objects] > 0).all()
    assert seen and all(categories[t] is not None for t in seen)


def test_ego_drives_along_a_lane(synthetic_dataset):
    root = synthetic_dataset.root
    info = pickle.load(open(root / 'nuscenes_infos_train.pkl', 'rb'))['data_list'][0]
    logfile = Path(info['lidar_points']['lidar_path']).name.split('__')[0]
    lanes = json.loads((root / 'lanes' / f'{logfile}.json').read_text())['lanes']
    poses = np.array([p for lane in lanes for p in lane['poses']])
    ego = np.asarray(info['ego2global'])
    d = np.hypot(poses[:, 0] - ego[0, 3], poses[:, 1] - ego[1, 3])
    k = int(np.argmin(d))
    assert d[k] < 0.5  # the ego drives on a lane centre line (0.5 m pose spacing)
    ego_yaw = math.atan2(ego[1, 0], ego[0, 0])
    assert abs(math.remainder(poses[k, 2] - ego_yaw, 2 * math.pi)) < 1e-6
