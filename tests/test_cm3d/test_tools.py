"""tools/cm3d/generate_pseudo_labels.py and tools/subsample_infos.py end to end."""
import importlib.util
import json
import pickle

import numpy as np
import pytest


def _load_tool(repo_root, rel):
    spec = importlib.util.spec_from_file_location(rel.replace('/', '_'), repo_root / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generate_pseudo_labels_writes_a_trainable_info_file(
        cm3d_data, repo_root, tmp_path, capsys):
    tool = _load_tool(repo_root, 'tools/cm3d/generate_pseudo_labels.py')
    out = tmp_path / 'cm3d_infos_train.pkl'
    summary = tool.main(['--data-root', str(cm3d_data.root), '--ann-file',
                         'nuscenes_infos_train.pkl', '--out', str(out)])
    text = capsys.readouterr()
    assert 'masks with no LiDAR point' in text.out and 'CM3D pseudo-labels' in text.err
    infos = pickle.load(open(out, 'rb'))
    c = summary['counts']
    assert sum(len(d['instances']) for d in infos['data_list']) == c['boxes'] > 0
    assert c['masks'] >= c['boxes_before_nms'] + c['no_points'] + c['no_prior']
    ev = summary['evaluation']
    assert ev['recall'] >= 0.7 and ev['precision'] >= 0.7 and ev['median_centre_error'] <= 0.5
    assert 0 <= summary['nuscenes']['mAP'] <= 1 and 0 <= summary['nuscenes']['NDS'] <= 1
    assert json.loads(out.with_suffix('.summary.json').read_text())['counts'] == c
    inst = infos['data_list'][0]['instances'][0]
    assert len(inst['bbox_3d']) == 7 and inst['velocity'] == [0.0, 0.0]
    # mmdet3d's NuScenesDataset reads the pseudo-boxes as ground truth.
    from mmengine.registry import init_default_scope

    import s3pt_mm  # noqa: F401
    init_default_scope('mmdet3d')
    from mmdet3d.datasets import NuScenesDataset
    from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX
    ds = NuScenesDataset(data_root=str(cm3d_data.root), ann_file=str(out), pipeline=[],
                         data_prefix=NUSCENES_DATA_PREFIX, modality=dict(use_lidar=True),
                         test_mode=False)
    boxes = ds.get_data_info(0)['ann_info']['gt_bboxes_3d']
    np.testing.assert_allclose(boxes.gravity_center[0].numpy(), inst['bbox_3d'][:3], atol=1e-4)


def test_generate_pseudo_labels_without_lanes_counts_them(cm3d_data, repo_root, tmp_path):
    tool = _load_tool(repo_root, 'tools/cm3d/generate_pseudo_labels.py')
    summary = tool.main(['--data-root', str(cm3d_data.root), '--ann-file',
                         'nuscenes_infos_train.pkl', '--out', str(tmp_path / 'x.pkl'),
                         '--lanes-dir', str(tmp_path / 'none'), '--limit', '1',
                         '--no-nuscenes-metric'])
    assert summary['counts']['no_lane'] > 0
    assert summary['nuscenes'].startswith('skipped')


def test_subsample_infos(cm3d_data, repo_root, tmp_path):
    tool = _load_tool(repo_root, 'tools/subsample_infos.py')
    assert tool.subsample_indices(10, 0.3) == [0, 3, 6]
    assert tool.subsample_indices(10, 0.01) == [0]
    assert len(tool.subsample_indices(10, 0.5, seed=1)) == 5
    with pytest.raises(ValueError, match='ratio'):
        tool.subsample_indices(10, 0.0)
    src = cm3d_data.root / 'nuscenes_infos_train.pkl'
    tool.main([str(src), str(tmp_path / 'half.pkl'), '--ratio', '0.5'])
    half = pickle.load(open(tmp_path / 'half.pkl', 'rb'))
    assert len(half['data_list']) == 1 and half['metainfo']['subset']['ratio'] == 0.5
    tool.main([str(src), str(tmp_path / 'one.pkl'), '--num-scenes', '1'])
    assert len(pickle.load(open(tmp_path / 'one.pkl', 'rb'))['data_list']) == 2
