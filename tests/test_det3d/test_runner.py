"""The synthetic PETR config through mmengine's Runner: train, checkpoint, validate."""
import json

import pytest
from mmengine.config import Config


def test_runner_trains_and_validates_on_synthetic_scenes(det3d, repo_root, tiny_petr_cfg,
                                                         synthetic_petr_root, tmp_path,
                                                         single_thread):
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(repo_root / 'configs/petr/petr_vit-s16-frozen_synthetic-800x320.py'))
    cfg.model = tiny_petr_cfg()  # no checkpoint, CPU size
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.update(num_workers=0, persistent_workers=False, batch_size=1)
        loader.dataset.data_root = str(synthetic_petr_root)
        for step in loader.dataset.pipeline:
            if step.type == 'MultiViewResizeCropFlip':
                step.final_hw = (64, 160)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.val_evaluator.update(data_root=str(synthetic_petr_root),
                             ann_file=str(synthetic_petr_root / 'nuscenes_infos_val.pkl'),
                             jsonfile_prefix=str(tmp_path / 'results'))
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    cfg.work_dir = str(tmp_path / 'work_dir')
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert (tmp_path / 'work_dir' / 'epoch_1.pth').is_file()
    metrics = runner.val_loop.run()
    prefix = 'NuScenes metric/pred_instances_3d_NuScenes/'
    for key in ('NDS', 'mAP', 'mAP_0-20m', 'mAP_0-30m', 'mAP_0-60m', 'car_AP_0-60m'):
        assert 0.0 <= metrics[prefix + key] <= 1.0
    table = json.loads((tmp_path / 'results' / 'pred_instances_3d' / 'range_ap.json').read_text())
    assert table['0-30m']['mAP'] == pytest.approx(metrics[prefix + 'mAP_0-30m'])
