"""nuscenes-devkit 1.2.0 on the generated dataset: loading, geometry queries, velocities, maps."""
import numpy as np

from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos
from s3pt_mm.synthetic import make_scene
from s3pt_mm.synthetic.nuscenes_tables import make_token

CHANNELS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
            'CAM_BACK_RIGHT', 'LIDAR_TOP')


def test_devkit_loads_all_tables(nusc, synthetic_dataset):
    cfg = synthetic_dataset.config
    assert len(nusc.scene) == cfg.num_scenes
    assert len(nusc.sample) == cfg.num_scenes * cfg.samples_per_scene
    for sample in nusc.sample:
        assert set(sample['data']) == set(CHANNELS)
        assert len(sample['anns']) > 5
    for scene in nusc.scene:
        # Walk the sample chain from first to last.
        token, n = scene['first_sample_token'], 0
        while token:
            sample = nusc.get('sample', token)
            token, n = sample['next'], n + 1
        assert n == scene['nbr_samples'] == cfg.samples_per_scene
        log = nusc.get('log', scene['log_token'])
        assert nusc.get('map', log['map_token'])['category'] == 'semantic_prior'


def test_get_sample_data_matches_info_cam_instances(nusc, synthetic_dataset):
    infos = load_nuscenes_infos(synthetic_dataset.root / 'nuscenes_infos_train.pkl',
                                data_prefix=NUSCENES_DATA_PREFIX)
    import pickle
    with open(synthetic_dataset.root / 'nuscenes_infos_train.pkl', 'rb') as f:
        raw = pickle.load(f)['data_list']
    checked = 0
    for info, entry in zip(infos, raw):
        sample = nusc.get('sample', info.token)
        for channel in CHANNELS[:6]:
            path, boxes, k = nusc.get_sample_data(sample['data'][channel])
            assert path == info.cameras[channel].img_path
            np.testing.assert_allclose(k, info.cameras[channel].cam2img)
            centers = np.array([c['bbox_3d'][:3] for c in entry['cam_instances'][channel]])
            for box in boxes:
                if box.center[2] <= 0:
                    continue
                # Every box the devkit sees in the image is a cam_instance with the same centre.
                dist = np.linalg.norm(centers - box.center, axis=1)
                assert dist.min() < 1e-6
                checked += 1
    assert checked > 20


def test_map_pointcloud_to_image_matches_info_projection(nusc, synthetic_dataset):
    info = load_nuscenes_infos(synthetic_dataset.root / 'nuscenes_infos_train.pkl',
                               data_prefix=NUSCENES_DATA_PREFIX)[1]
    sample = nusc.get('sample', info.token)
    pts = np.fromfile(info.lidar_path, dtype=np.float32).reshape(-1, 5)
    for channel in CHANNELS[:6]:
        uv_dev, depth_dev, image = nusc.explorer.map_pointcloud_to_image(
            sample['data']['LIDAR_TOP'], sample['data'][channel])
        cam = info.cameras[channel]
        xyz = pts[:, :3].astype(np.float64) @ cam.lidar2cam[:3, :3].T + cam.lidar2cam[:3, 3]
        uvw = xyz @ cam.cam2img.T
        uv = uvw[:, :2] / uvw[:, 2:3]
        w, h = image.size
        keep = ((xyz[:, 2] > 1.0) & (uv[:, 0] > 1) & (uv[:, 0] < w - 1) & (uv[:, 1] > 1)
                & (uv[:, 1] < h - 1))
        # The devkit chains LiDAR -> ego -> global -> ego -> camera in float32; same points.
        assert abs(int(keep.sum()) - uv_dev.shape[1]) <= 2
        if keep.sum() == uv_dev.shape[1]:
            np.testing.assert_allclose(uv_dev[:2].T, uv[keep], atol=0.02)
            np.testing.assert_allclose(depth_dev, xyz[keep, 2], atol=2e-3)
        assert uv_dev.shape[1] > 500


def test_box_velocity_equals_generated_motion(nusc, synthetic_dataset):
    cfg = synthetic_dataset.config
    checked, moving = 0, 0
    for scene_index in range(cfg.num_scenes):
        scene = make_scene(cfg, scene_index)
        rot = scene.world2global[:3, :3]
        for a, actor in enumerate(scene.actors):
            velocity = rot @ actor.velocity
            for k in range(cfg.samples_per_scene):
                token = make_token(cfg.seed, 'sample_annotation', scene_index, k, a)
                if token not in nusc._token2ind['sample_annotation']:
                    continue
                ann = nusc.get('sample_annotation', token)
                if not ann['next']:
                    continue
                nxt = nusc.get('sample_annotation', ann['next'])
                dt = 1e-6 * (nusc.get('sample', nxt['sample_token'])['timestamp']
                             - nusc.get('sample', ann['sample_token'])['timestamp'])
                displacement = np.subtract(nxt['translation'], ann['translation'])
                np.testing.assert_allclose(displacement / dt, velocity, atol=1e-6)
                np.testing.assert_allclose(nusc.box_velocity(token), velocity, atol=1e-6)
                checked += 1
                moving += np.linalg.norm(velocity) > 1.0
    assert checked > 30 and moving > 5


def test_ego_drives_on_the_map_mask(nusc):
    for sample in nusc.sample:
        sd = nusc.get('sample_data', sample['data']['LIDAR_TOP'])
        pose = nusc.get('ego_pose', sd['ego_pose_token'])
        scene = nusc.get('scene', sample['scene_token'])
        record = nusc.get('map', nusc.get('log', scene['log_token'])['map_token'])
        x, y = pose['translation'][:2]
        assert record['mask'].is_on_mask(x, y)[0]
        # 200 m to the ego's left (beyond sidewalks and buildings) is off the semantic prior.
        q = pose['rotation']
        yaw = np.arctan2(2 * (q[0] * q[3] + q[1] * q[2]), 1 - 2 * (q[2] ** 2 + q[3] ** 2))
        assert not record['mask'].is_on_mask(x - 200 * np.sin(yaw), y + 200 * np.cos(yaw))[0]
        # 4 m ahead along the road is still on it.
        assert record['mask'].is_on_mask(x + 4 * np.cos(yaw), y + 4 * np.sin(yaw))[0]


def test_attributes_and_visibility(nusc):
    allowed = {
        'vehicle.car': {'vehicle.moving', 'vehicle.stopped', 'vehicle.parked'},
        'vehicle.truck': {'vehicle.moving', 'vehicle.stopped', 'vehicle.parked'},
        'vehicle.bus.rigid': {'vehicle.moving', 'vehicle.stopped', 'vehicle.parked'},
        'human.pedestrian.adult': {'pedestrian.moving', 'pedestrian.standing'},
        'vehicle.bicycle': {'cycle.with_rider', 'cycle.without_rider'},
        'movable_object.trafficcone': set(), 'movable_object.barrier': set(),
    }
    levels = {}
    for ann in nusc.sample_annotation:
        names = {nusc.get('attribute', t)['name'] for t in ann['attribute_tokens']}
        assert names <= allowed[ann['category_name']]
        assert len(names) == (1 if allowed[ann['category_name']] else 0)
        level = nusc.get('visibility', ann['visibility_token'])['level']
        levels[level] = levels.get(level, 0) + 1
        assert ann['num_lidar_pts'] >= 0 and ann['num_radar_pts'] == 0
    assert levels.get('v80-100', 0) > 0 and levels.get('v0-40', 0) > 0
