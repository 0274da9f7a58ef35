"""nuScenes metrics on the synthetic dataset: our sample-token evaluation equals the devkit's
NuScenesEval, and NuScenesRangeMetric / tools/eval_range_ap.py report exact detections
as perfect in every range."""
import importlib.util
import json
import pickle

import numpy as np
import pytest
import torch

CLASSES = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle',
           'bicycle', 'pedestrian', 'traffic_cone']


@pytest.fixture(scope='module')
def nusc(synthetic_petr_root):
    from nuscenes.nuscenes import NuScenes
    return NuScenes(version='v1.0-synthetic', dataroot=str(synthetic_petr_root), verbose=False)


def _val_tokens(nusc):
    scene = [s for s in nusc.scene if s['name'] == 'scene-0001'][0]
    return [s['token'] for s in nusc.sample if s['scene_token'] == scene['token']]


def test_detection_metrics_equal_nuscenes_eval(det3d, nusc, synthetic_petr_root, tmp_path):
    """Noisy, incomplete predictions with false positives: mAP, NDS, every AP and TP error
    equal NuScenesEval run on a custom split (splits.json) of the same samples."""
    from nuscenes.eval.common.config import config_factory
    from nuscenes.eval.common.loaders import load_gt_of_sample_tokens
    from nuscenes.eval.detection.data_classes import DetectionBox
    from nuscenes.eval.detection.evaluate import NuScenesEval

    from s3pt_mm.det3d.evaluation import detection_metrics, load_eval_boxes
    rng = np.random.default_rng(0)
    tokens = _val_tokens(nusc)
    gt = load_gt_of_sample_tokens(nusc, tokens, DetectionBox)
    results = {}
    for token in tokens:
        boxes = []
        for box in gt[token]:
            if rng.random() < 0.2:
                continue  # missed
            t = np.array(box.translation) + [*rng.normal(0, 0.6, 2), 0.0]
            boxes.append(dict(sample_token=token, translation=t.tolist(),
                              size=(np.array(box.size) * rng.uniform(0.9, 1.1)).tolist(),
                              rotation=list(box.rotation),
                              velocity=(np.nan_to_num(box.velocity) + rng.normal(0, 1, 2)).tolist(),
                              detection_name=box.detection_name,
                              detection_score=float(rng.uniform(0.2, 1.0)),
                              attribute_name=box.attribute_name))
        ego = nusc.get('ego_pose', nusc.get('sample_data', nusc.get('sample', token)['data'][
            'LIDAR_TOP'])['ego_pose_token'])['translation']
        for _ in range(15):  # false positives around the ego vehicle
            t = np.array(ego) + [*rng.uniform(-40, 40, 2), 0.0]
            boxes.append(dict(sample_token=token, translation=t.tolist(), size=[2.0, 4.5, 1.6],
                              rotation=[1.0, 0.0, 0.0, 0.0], velocity=[0.0, 0.0],
                              detection_name=str(rng.choice(CLASSES)),
                              detection_score=float(rng.uniform(0.0, 0.6)), attribute_name=''))
        results[token] = boxes
    result_path = tmp_path / 'results_nusc.json'
    result_path.write_text(json.dumps(dict(meta=dict(use_camera=True), results=results)))
    split_file = synthetic_petr_root / 'v1.0-synthetic' / 'splits.json'
    split_file.write_text(json.dumps({'synthetic_val': ['scene-0001']}))

    config = config_factory('detection_cvpr_2019')
    reference, _ = NuScenesEval(nusc, config, str(result_path), eval_set='synthetic_val',
                                output_dir=str(tmp_path / 'devkit'), verbose=False).evaluate()
    ours = detection_metrics(*load_eval_boxes(nusc, str(result_path)), config, nusc)
    ref, got = reference.serialize(), ours.serialize()
    assert 0.2 < ref['mean_ap'] < 0.9  # a non-trivial case
    assert got['mean_ap'] == ref['mean_ap'] and got['nd_score'] == ref['nd_score']
    assert got['label_aps'] == ref['label_aps']
    np.testing.assert_array_equal(
        [v for c in CLASSES for v in got['label_tp_errors'][c].values()],
        [v for c in CLASSES for v in ref['label_tp_errors'][c].values()])


def _exact_predictions(root):
    """The val info file's own boxes (those with LiDAR points) as detections, score 1."""
    from mmdet3d.structures import LiDARInstance3DBoxes
    with open(root / 'nuscenes_infos_val.pkl', 'rb') as f:
        content = pickle.load(f)
    infos = content['data_list']
    # The info file numbers classes in its own order; the dataset (and model) use CLASSES'.
    to_model = {idx: CLASSES.index(name) for name, idx in content['metainfo']['categories'].items()}
    results = []
    for idx, info in enumerate(infos):
        inst = [i for i in info['instances'] if i['num_lidar_pts'] > 0 and i['bbox_label_3d'] >= 0]
        boxes = torch.tensor([i['bbox_3d'] + list(np.nan_to_num(i['velocity'])) for i in inst],
                             dtype=torch.float32)
        pred = dict(bboxes_3d=LiDARInstance3DBoxes(boxes, box_dim=9, origin=(0.5, 0.5, 0.5)),
                    scores_3d=torch.ones(len(inst)),
                    labels_3d=torch.tensor([to_model[i['bbox_label_3d']] for i in inst]))
        results.append(dict(pred_instances_3d=pred, pred_instances={}, sample_idx=idx))
    return results


def test_metric_reports_exact_detections_as_perfect(det3d, nusc, synthetic_petr_root, tmp_path,
                                                    repo_root):
    from mmdet3d.registry import METRICS
    from nuscenes.eval.common.loaders import add_center_dist, load_gt_of_sample_tokens
    from nuscenes.eval.detection.data_classes import DetectionBox
    metric = METRICS.build(dict(
        type='NuScenesRangeMetric', data_root=str(synthetic_petr_root),
        ann_file=str(synthetic_petr_root / 'nuscenes_infos_val.pkl'), metric='bbox',
        modality=dict(use_camera=True, use_lidar=False), jsonfile_prefix=str(tmp_path / 'res')))
    metric.dataset_meta = dict(classes=CLASSES, version='v1.0-synthetic')
    predictions = _exact_predictions(synthetic_petr_root)
    metrics = metric.compute_metrics(predictions)
    prefix = 'pred_instances_3d_NuScenes/'

    tokens = _val_tokens(nusc)
    gt = add_center_dist(nusc, load_gt_of_sample_tokens(nusc, tokens, DetectionBox))
    gt_boxes = [b for b in gt.all if b.num_pts > 0]
    standard_range = metric.eval_detection_configs.class_range
    present = {b.detection_name for b in gt_boxes
               if b.ego_dist < standard_range[b.detection_name]}
    assert metrics[prefix + 'mAP'] == pytest.approx(len(present) / 10)
    # Matched boxes are exact (classes without ground truth count as error 1 in mATE etc.).
    for name in present:
        assert metrics[f'{prefix}{name}_trans_err'] < 1e-3
        assert metrics[f'{prefix}{name}_scale_err'] < 1e-3
        if name != 'traffic_cone':  # no orientation for cones (NaN)
            assert metrics[f'{prefix}{name}_orient_err'] < 1e-3
    for rng in (20, 30, 60):
        in_range = {b.detection_name for b in gt_boxes if b.ego_dist < rng}
        for name in ['car', 'truck', 'bus', 'trailer', 'pedestrian', 'motorcycle', 'bicycle',
                     'traffic_cone', 'barrier']:
            expected = 1.0 if name in in_range else 0.0
            assert metrics[f'{prefix}{name}_AP_0-{rng}m'] == pytest.approx(expected), (name, rng)
    # Boxes beyond their class' nuScenes range (30-50 m) but within 60 m are kept in the file.
    beyond = [b for b in gt_boxes if standard_range[b.detection_name] <= b.ego_dist < 60]
    assert len(beyond) > 0
    out_dir = tmp_path / 'res' / 'pred_instances_3d'
    result_path = out_dir / 'results_nusc.json'
    written = json.loads(result_path.read_text())['results']
    n_pred = sum(len(r['pred_instances_3d']['labels_3d']) for r in predictions)
    n_far = sum(1 for b in gt_boxes if b.ego_dist >= 60)
    assert sum(len(v) for v in written.values()) == n_pred - n_far
    table = json.loads((out_dir / 'range_ap.json').read_text())
    assert table['0-60m']['mAP'] == pytest.approx(metrics[prefix + 'mAP_0-60m'])
    assert (out_dir / 'range_ap.md').read_text().startswith('| class | 0-20m | 0-30m | 0-60m |')

    # The CLI gives the same table and mAP from the written file.
    spec = importlib.util.spec_from_file_location('eval_range_ap',
                                                  repo_root / 'tools' / 'eval_range_ap.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tool.main([str(result_path), '--data-root', str(synthetic_petr_root), '--version',
                     'v1.0-synthetic', '--out', str(tmp_path / 'cli.json')])
    assert out['mAP'] == pytest.approx(metrics[prefix + 'mAP'])
    assert out['range_ap'] == json.loads((tmp_path / 'cli.json').read_text())['range_ap']
    for rng in ('0-20m', '0-30m', '0-60m'):
        assert out['range_ap'][rng] == pytest.approx(table[rng])


def test_result_file_errors_name_the_file(det3d, nusc, tmp_path):
    from s3pt_mm.det3d.evaluation import load_eval_boxes
    with pytest.raises(FileNotFoundError, match='missing.json'):
        load_eval_boxes(nusc, str(tmp_path / 'missing.json'))
    path = tmp_path / 'foreign.json'
    path.write_text(json.dumps(dict(meta={}, results={'not-a-token': []})))
    with pytest.raises(ValueError, match=r'foreign.json: 1 sample tokens are not in nuScenes '
                                         r'v1.0-synthetic'):
        load_eval_boxes(nusc, str(path))
