"""The Cityscapes -> nuImages DG config runs end to end and scores in the shared classes."""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from s3pt_mm.testing.nuimages_fixture import write_tiny_nuimages
from s3pt_mm.segmentation.nuimages_semseg import convert_nuimages_version

REPO = Path(__file__).resolve().parents[2]
SHARED = ('background', 'road', 'car', 'truck', 'bus', 'motorcycle', 'bicycle', 'pedestrian')
# Hand-written: Cityscapes train id -> shared id; nuImages id -> shared id (255 = ignored).
CITYSCAPES_TO_SHARED = {0: 1, **{k: 0 for k in range(1, 11)}, 11: 7, 12: 7, 13: 2, 14: 3,
                        15: 4, 17: 5, 18: 6}
NUIMAGES_TO_SHARED = {0: 0, 1: 2, 2: 3, 4: 4, 6: 6, 7: 5, 8: 7, 11: 1}


def _lut(table):
    lut = np.full(256, 255)
    for k, v in table.items():
        lut[k] = v
    return lut


def test_cityscapes_model_on_nuimages(tmp_path):
    tiny = write_tiny_nuimages(str(tmp_path / 'nuimages'), versions=('v1.0-val', ),
                               samples_per_version=2)
    convert_nuimages_version(str(tiny.dataroot), 'v1.0-val', str(tmp_path / 'semseg'))
    cfg = Config.fromfile(
        str(REPO / 'configs/segmenter/dg/linear_vit-s16_cityscapes-to-nuimages.py'))
    # A small random "Cityscapes model" keeps this fast; what is tested is the DG wiring.
    cfg.model.backbone.update(embed_dims=64, num_layers=1, num_heads=2, init_cfg=None)
    cfg.model.decode_head.update(in_channels=64, channels=64)
    cfg.test_dataloader.dataset.data_root = str(tmp_path / 'semseg')
    cfg.test_dataloader.update(num_workers=0, persistent_workers=False)
    cfg.work_dir = str(tmp_path / 'work_dir')
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()

    pred_lut, gt_lut = _lut(CITYSCAPES_TO_SHARED), _lut(NUIMAGES_TO_SHARED)
    conf = np.zeros((8, 8), dtype=np.int64)
    label_area = np.zeros(8, dtype=np.int64)
    with torch.no_grad():
        for batch in runner.test_dataloader:
            for sample in runner.model.test_step(batch):
                pred = pred_lut[sample.pred_sem_seg.data[0].numpy()]
                gt = gt_lut[sample.gt_sem_seg.data[0].numpy()]
                labelled = gt != 255
                label_area += np.bincount(gt[labelled], minlength=8)
                both = labelled & (pred != 255)
                conf += np.bincount(gt[both] * 8 + pred[both], minlength=64).reshape(8, 8)
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + label_area - tp
    iou = np.where(union > 0, tp / np.maximum(union, 1), np.nan)
    for k, name in enumerate(SHARED):
        if np.isnan(iou[k]):
            assert np.isnan(metrics[f'IoU.{name}'])
        else:
            assert metrics[f'IoU.{name}'] == pytest.approx(round(100 * iou[k], 2), abs=1e-9)
    assert metrics['mIoU'] == pytest.approx(round(100 * np.nanmean(iou), 2), abs=1e-9)
    assert not any(key in metrics for key in ('IoU.sidewalk', 'IoU.trailer'))
