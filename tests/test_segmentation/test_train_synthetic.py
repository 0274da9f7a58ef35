"""A linear head on the frozen backbone trains on the synthetic scenes; the reported mIoU and
per-class IoU equal a confusion matrix computed by hand from the model's predictions."""
import json
import re
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES

ITERS = 30


@pytest.fixture(scope='module')
def trained(synthetic_seg_root, tmp_path_factory):
    """(runner, test metrics) after ITERS iterations of the demo config on the test scenes."""
    from mmengine.config import Config
    repo = Path(__file__).resolve().parents[2]
    cfg = Config.fromfile(str(repo / 'configs/segmenter/linear_vit-tiny_synthetic-224x224.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = str(synthetic_seg_root)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    work_dir = tmp_path_factory.mktemp('seg_run')
    cfg.work_dir = str(work_dir)
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = ITERS
    cfg.param_scheduler[0].end = ITERS
    cfg.default_hooks.logger.interval = 10
    cfg.default_hooks.checkpoint.interval = ITERS
    cfg.custom_hooks = [dict(type='SegComparisonHook', out_dir=str(work_dir / 'pictures'),
                             max_images=3)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner, runner.test()


def _predictions(runner):
    """(pred, gt) label maps of the test set from the trained model."""
    pairs = []
    runner.model.eval()
    with torch.no_grad():
        for batch in runner.test_dataloader:
            for sample in runner.model.test_step(batch):
                pairs.append((sample.pred_sem_seg.data[0].numpy(),
                              sample.gt_sem_seg.data[0].numpy()))
    return pairs


def test_metrics_equal_hand_computed_confusion_matrix(trained):
    runner, metrics = trained
    k = len(SEMANTIC_CLASSES)
    conf = np.zeros((k, k), dtype=np.int64)
    for pred, gt in _predictions(runner):
        valid = gt != 255
        conf += np.bincount(gt[valid] * k + pred[valid], minlength=k * k).reshape(k, k)
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    for cls in SEMANTIC_CLASSES:
        expected = round(100 * iou[cls.id], 2)
        if np.isnan(expected):
            assert np.isnan(metrics[f'IoU.{cls.name}']), cls.name
        else:
            assert metrics[f'IoU.{cls.name}'] == pytest.approx(expected, abs=1e-9), cls.name
    assert metrics['mIoU'] == pytest.approx(round(100 * np.nanmean(iou), 2), abs=1e-9)
    assert metrics['aAcc'] == pytest.approx(round(100 * tp.sum() / conf.sum(), 2), abs=1e-9)
    # Better than predicting the most frequent class everywhere.
    majority = conf.sum(1).argmax()
    majority_miou = 100 * conf.sum(1)[majority] / conf.sum() / np.count_nonzero(conf.sum(1))
    print(f'synthetic test set after {ITERS} iterations: mIoU {metrics["mIoU"]:.2f} '
          f'(majority-class predictor {majority_miou:.2f}), aAcc {metrics["aAcc"]:.2f}')
    assert metrics['mIoU'] > majority_miou


def test_log_has_the_per_class_table_and_loss_decreases(trained):
    runner, metrics = trained
    log = next(Path(runner.log_dir).glob('*.log')).read_text()
    assert 'per class results' in log
    for name in ('sky', 'car', 'driveable_surface'):
        logged = re.findall(rf'\|\s+{name}\s+\|\s+([\d.]+|nan)\s+\|', log)[-1]
        assert float(logged) == pytest.approx(metrics[f'IoU.{name}'], abs=1e-9)
    records = [json.loads(line) for line in
               next(Path(runner.log_dir).glob('vis_data/scalars.json')).read_text().splitlines()]
    losses = [r['loss'] for r in records if 'loss' in r]
    assert len(losses) >= ITERS // 10 and losses[-1] < losses[0]
    assert any('mIoU' in r for r in records)  # the validation at the end of training


def test_comparison_pictures(trained):
    runner, _ = trained
    pictures = sorted((Path(runner.work_dir) / 'pictures').glob('*.png'))
    assert len(pictures) == 3
    sample = runner.test_dataloader.dataset[0]['data_samples']
    h, w = sample.ori_shape
    panel = mmcv.imread(str(pictures[0]), channel_order='rgb')
    assert panel.shape == (h, 3 * w, 3)
    # the third panel is the ground truth coloured with the dataset palette
    stem = pictures[0].stem
    gt = mmcv.imread(str(next(Path(runner.test_dataloader.dataset.data_root).glob(
        f'semseg/*/{stem}.png'))), flag='unchanged')
    palette = np.array([c.color for c in SEMANTIC_CLASSES], dtype=np.uint8)
    np.testing.assert_array_equal(panel[:, 2 * w:], palette[gt])


def test_test_seg_tool_reproduces_the_metrics(trained, tmp_path):
    """tools/test_seg.py on the saved checkpoint gives the same numbers and writes pictures."""
    import importlib.util
    runner, metrics = trained
    repo = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location('test_seg', repo / 'tools' / 'test_seg.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    config = tmp_path / 'config.py'
    runner.cfg.dump(str(config))
    checkpoint = Path(runner.work_dir) / f'iter_{ITERS}.pth'
    out = tmp_path / 'metrics.json'
    again = tool.main([str(config), str(checkpoint), '--work-dir', str(tmp_path / 'test'),
                       '--show-dir', str(tmp_path / 'show'), '--show-max', '2',
                       '--out', str(out), '--cfg-options', 'custom_hooks=[]'])
    assert again['mIoU'] == metrics['mIoU'] and again['IoU.sky'] == metrics['IoU.sky']
    assert json.loads(out.read_text())['aAcc'] == metrics['aAcc']
    assert len(list((tmp_path / 'show').glob('*.png'))) == 2
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        tool.main([str(config), str(tmp_path / 'nope.pth')])
