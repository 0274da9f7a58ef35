"""tools/test.py on a synthetic PETR checkpoint: the NuScenes metrics of the test loop, strict
JSON, pictures from mmdet3d's Det3DVisualizationHook (multi-view)."""
import importlib.util
import json
import math

import pytest
import torch
from mmengine.config import Config


def test_tool_on_a_synthetic_petr_checkpoint(det3d, repo_root, tiny_petr_cfg,
                                             synthetic_petr_root, tmp_path, single_thread):
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(str(repo_root / 'configs/petr/petr_vit-s16-frozen_synthetic-800x320.py'))
    cfg.model = tiny_petr_cfg()  # random weights, CPU size
    loader = cfg.test_dataloader
    loader.update(num_workers=0, persistent_workers=False, batch_size=1)
    loader.dataset.data_root = str(synthetic_petr_root)
    for step in loader.dataset.pipeline:
        if step.type == 'MultiViewResizeCropFlip':
            step.final_hw = (64, 160)
    cfg.test_evaluator.update(data_root=str(synthetic_petr_root),
                              ann_file=str(synthetic_petr_root / 'nuscenes_infos_val.pkl'),
                              jsonfile_prefix=str(tmp_path / 'results'))
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    config = tmp_path / 'petr.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    checkpoint = tmp_path / 'petr.pth'
    torch.save(dict(meta=dict(), state_dict=model.state_dict()), checkpoint)

    spec = importlib.util.spec_from_file_location('test_tool', repo_root / 'tools' / 'test.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'metrics.json'
    metrics = tool.main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'work'),
                         '--out', str(out), '--show-dir', str(tmp_path / 'show'),
                         '--score-thr', '0.0',
                         '--cfg-options', 'default_hooks.visualization.interval=1'])
    prefix = 'NuScenes metric/pred_instances_3d_NuScenes/'
    for key in ('NDS', 'mAP', 'mAP_0-30m'):
        assert 0.0 <= metrics[prefix + key] <= 1.0

    def refuse(name):
        raise ValueError(f'non-standard JSON constant {name}')
    written = json.loads(out.read_text(), parse_constant=refuse)
    assert written.keys() == metrics.keys()
    for key, value in metrics.items():
        if isinstance(value, float) and not math.isfinite(value):
            assert written[key] is None, key
        else:
            assert written[key] == pytest.approx(value), key
    # The range-AP table of the metric agrees with what the tool returned.
    table = json.loads((tmp_path / 'results' / 'pred_instances_3d' / 'range_ap.json').read_text())
    assert table['0-30m']['mAP'] == pytest.approx(metrics[prefix + 'mAP_0-30m'])
    # Det3DVisualizationHook wrote pictures of the val samples into --show-dir.
    # Det3DVisualizationHook (mono_det): per val sample, the 6 original camera images (320x180)
    # composed 2 rows x 3 columns, named after the first camera's file.
    import mmcv
    pictures = sorted((tmp_path / 'show').iterdir())
    assert len(pictures) == 2
    assert mmcv.imread(str(pictures[0])).shape == (2 * 180, 3 * 320, 3)
