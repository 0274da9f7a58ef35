"""The generated dataset on disk: layout, file contents, labels vs depth, determinism, timing."""
import hashlib
import json
import pickle
import time

import numpy as np
import pytest
from PIL import Image

from s3pt_mm.synthetic import SEMANTIC_CLASSES, SyntheticConfig, generate_dataset
from s3pt_mm.synthetic.camera_rig import CAMERAS, camera_intrinsics
from s3pt_mm.synthetic.classes import SEMANTIC_ID

TABLES = ('attribute', 'calibrated_sensor', 'category', 'ego_pose', 'instance', 'log', 'map',
          'sample', 'sample_annotation', 'sample_data', 'scene', 'sensor', 'visibility')


def _table(root, version, name):
    with open(root / version / f'{name}.json') as f:
        return json.load(f)


def test_generation_time_is_reported(synthetic_dataset, capsys):
    cfg = synthetic_dataset.config
    with capsys.disabled():
        print(f'\n[synthetic] {cfg.num_scenes} scenes x {cfg.samples_per_scene} samples at '
              f'{cfg.image_size[0]}x{cfg.image_size[1]}: generated in '
              f'{synthetic_dataset.seconds:.1f} s')
    assert synthetic_dataset.summary.num_samples == cfg.num_scenes * cfg.samples_per_scene


def test_layout_and_table_sizes(synthetic_dataset):
    root, cfg = synthetic_dataset.root, synthetic_dataset.config
    n_samples = cfg.num_scenes * cfg.samples_per_scene
    tables = {name: _table(root, cfg.version, name) for name in TABLES}
    assert len(tables['scene']) == cfg.num_scenes == len(tables['log']) == len(tables['map'])
    assert len(tables['sample']) == n_samples
    assert len(tables['sample_data']) == n_samples * 7 == len(tables['ego_pose'])
    assert len(tables['sensor']) == 7 and len(tables['visibility']) == 4
    assert len(tables['calibrated_sensor']) == 7 * cfg.num_scenes
    assert {c['name'] for c in tables['category']} == {
        'vehicle.car', 'vehicle.truck', 'vehicle.bus.rigid', 'human.pedestrian.adult',
        'vehicle.bicycle', 'movable_object.trafficcone', 'movable_object.barrier'}
    for sd in tables['sample_data']:
        assert (root / sd['filename']).is_file()
    for m in tables['map']:
        mask = np.array(Image.open(root / m['filename']))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    # instance bookkeeping: nbr_annotations equals the annotations pointing at it.
    counts = {}
    for ann in tables['sample_annotation']:
        counts[ann['instance_token']] = counts.get(ann['instance_token'], 0) + 1
    assert {i['token']: i['nbr_annotations'] for i in tables['instance']} == counts


def test_sensor_files_contents(synthetic_dataset):
    root, cfg = synthetic_dataset.root, synthetic_dataset.config
    width, height = cfg.image_size
    samples = _table(root, cfg.version, 'sample_data')
    for sd in samples:
        if sd['fileformat'] == 'pcd':
            pts = np.fromfile(root / sd['filename'], dtype=np.float32).reshape(-1, 5)
            # 32 rings x 1084 azimuths at most; most rays return in a closed street.
            assert 20000 < len(pts) <= 32 * 1084
            assert set(np.unique(pts[:, 4])) <= set(range(32))
            assert pts[:, 3].min() >= 0 and pts[:, 3].max() <= 255
            assert np.linalg.norm(pts[:, :3], axis=1).max() <= 100.0 + 1e-3
            continue
        assert (sd['width'], sd['height']) == (width, height)
        img = Image.open(root / sd['filename'])
        assert img.size == (width, height) and img.mode == 'RGB'
        assert np.asarray(img).std() > 20  # textured, not flat
        stem = sd['filename'].split('/')[-1][:-len('.jpg')]
        channel = sd['filename'].split('/')[1]
        depth = np.load(root / 'depth_gt' / channel / f'{stem}.npy')
        labels = np.array(Image.open(root / 'semseg' / channel / f'{stem}.png'))
        assert depth.dtype == np.float32 and depth.shape == (height, width)
        assert labels.dtype == np.uint8 and labels.shape == (height, width)
        assert set(np.unique(labels)) <= {c.id for c in SEMANTIC_CLASSES}
        # Sky <=> no depth; every other pixel has a positive depth inside the closed world.
        sky = labels == SEMANTIC_ID['sky']
        np.testing.assert_array_equal(sky, depth == 0)
        assert depth[~sky].min() > 0.1 and depth.max() < 400


def test_semantic_classes_cover_the_scene(synthetic_dataset):
    root = synthetic_dataset.root
    seen = np.zeros(256, dtype=np.int64)
    for png in (root / 'semseg').rglob('*.png'):
        seen += np.bincount(np.array(Image.open(png)).ravel(), minlength=256)
    names = {c.name for c in SEMANTIC_CLASSES if seen[c.id] > 0}
    assert {'car', 'pedestrian', 'driveable_surface', 'sidewalk', 'manmade', 'vegetation',
            'sky', 'terrain'} <= names
    # Never-drawn classes stay empty, and 255 (ignore) is never written.
    for name in ('construction_vehicle', 'motorcycle', 'trailer', 'other_flat'):
        assert seen[SEMANTIC_ID[name]] == 0
    assert seen[255] == 0


def test_intrinsics_scale_with_image_size(synthetic_dataset):
    root, cfg = synthetic_dataset.root, synthetic_dataset.config
    width, height = cfg.image_size
    cs = _table(root, cfg.version, 'calibrated_sensor')
    front = [c for c in cs if c['camera_intrinsic']
             and np.isclose(c['camera_intrinsic'][0][0], 1266.417 * width / 1600)]
    assert len(front) == cfg.num_scenes
    np.testing.assert_allclose(front[0]['camera_intrinsic'],
                               camera_intrinsics(CAMERAS[0], width, height))
    np.testing.assert_allclose(camera_intrinsics(CAMERAS[0], 1600, 900)[:2, 2], [816.267, 491.507])


def _digest(root):
    h = {}
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        h[str(path.relative_to(root))] = hashlib.md5(path.read_bytes()).hexdigest()
    return h


def test_determinism_for_a_seed(tmp_path):
    cfg = SyntheticConfig(num_scenes=2, samples_per_scene=2, seed=7, image_size=(96, 54))
    generate_dataset(str(tmp_path / 'a'), cfg)
    generate_dataset(str(tmp_path / 'b'), cfg)
    generate_dataset(str(tmp_path / 'c'), SyntheticConfig(num_scenes=2, samples_per_scene=2,
                                                          seed=8, image_size=(96, 54)))
    a, b, c = _digest(tmp_path / 'a'), _digest(tmp_path / 'b'), _digest(tmp_path / 'c')
    assert len(a) > 2 * 2 * (6 * 3 + 1) and a == b
    # Another seed changes every sensor file (and, through the tokens, the tables).
    sensor = lambda d: {v for k, v in d.items() if k.startswith(('samples', 'depth_gt'))}
    assert sensor(a) and not sensor(a) & sensor(c)
    assert a['v1.0-synthetic/sample.json'] != c['v1.0-synthetic/sample.json']


@pytest.mark.slow  # spawned workers re-import s3pt_mm (and with it mmpretrain): ~10 s
def test_scene_generation_is_independent_of_worker_count(tmp_path):
    cfg = SyntheticConfig(num_scenes=2, samples_per_scene=1, seed=3, image_size=(64, 36))
    generate_dataset(str(tmp_path / 'one'), cfg, workers=1)
    generate_dataset(str(tmp_path / 'two'), cfg, workers=2)
    assert _digest(tmp_path / 'one') == _digest(tmp_path / 'two')


def test_splits(synthetic_dataset):
    root = synthetic_dataset.root
    with open(root / 'nuscenes_infos_train.pkl', 'rb') as f:
        train = pickle.load(f)
    with open(root / 'nuscenes_infos_val.pkl', 'rb') as f:
        val = pickle.load(f)
    spp = synthetic_dataset.config.samples_per_scene
    assert len(train['data_list']) == spp and len(val['data_list']) == spp
    assert synthetic_dataset.summary.train_scenes == ['scene-0000']
    assert synthetic_dataset.summary.val_scenes == ['scene-0001']
    assert not {d['token'] for d in train['data_list']} & {d['token'] for d in val['data_list']}


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match='at least 1 scene'):
        SyntheticConfig(num_scenes=0)
    with pytest.raises(ValueError, match='image_size'):
        SyntheticConfig(image_size=(4, 4))
    with pytest.raises(ValueError, match='num_val_scenes'):
        SyntheticConfig(num_scenes=2, num_val_scenes=3)


@pytest.mark.slow
def test_one_full_size_sample_timing(tmp_path, capsys):
    """Measure (not assert) the cost of one 1600x900 sample (6 cameras + LiDAR)."""
    start = time.perf_counter()
    generate_dataset(str(tmp_path), SyntheticConfig(num_scenes=1, samples_per_scene=1, seed=1))
    seconds = time.perf_counter() - start
    with capsys.disabled():
        print(f'\n[synthetic] one 1600x900 sample generated in {seconds:.1f} s')
    assert np.load(next((tmp_path / 'depth_gt' / 'CAM_FRONT').glob('*.npy'))).shape == (900, 1600)
