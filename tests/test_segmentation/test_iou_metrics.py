"""IoU metrics against a hand-computed confusion matrix; the per-class table in the log."""
import re

import numpy as np
import pytest
import torch
from mmengine.logging import MMLogger

from s3pt_mm.segmentation import CrossDatasetIoUMetric, PerClassIoUMetric


def _confusion(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """conf[g, p] over pixels with a valid label (gt != 255) and a valid prediction."""
    keep = (gt != 255) & (pred < num_classes)
    return np.bincount(gt[keep] * num_classes + pred[keep],
                       minlength=num_classes**2).reshape(num_classes, num_classes)


def _samples(preds, gts):
    return [dict(pred_sem_seg=dict(data=torch.from_numpy(p)[None]),
                 gt_sem_seg=dict(data=torch.from_numpy(g)[None])) for p, g in zip(preds, gts)]


@pytest.fixture
def log_file(tmp_path):
    path = tmp_path / 'metric.log'
    MMLogger.get_instance(f'iou_test_{tmp_path.name}', log_file=str(path))  # the current logger
    return path


def test_per_class_iou_equals_confusion_matrix(log_file):
    rng = np.random.default_rng(0)
    classes = ('road', 'car', 'person', 'sky', 'never_seen')
    gts = [rng.integers(0, 4, size=(12, 17)) for _ in range(3)]
    gts[0][:3] = 255  # ignored pixels
    # mostly right, with errors; class 4 never occurs in prediction or label
    preds = [np.where(rng.random(g.shape) < 0.7, np.where(g == 255, 0, g),
                      rng.integers(0, 4, size=g.shape)) for g in gts]
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, _samples(preds, gts))
    result = metric.evaluate(3)

    conf = sum(_confusion(p, g, 5) for p, g in zip(preds, gts))
    tp = np.diag(conf).astype(float)
    with np.errstate(invalid='ignore'):
        iou = tp / (conf.sum(0) + conf.sum(1) - tp)
    assert np.isnan(iou[4]) and np.isnan(result['IoU.never_seen'])
    for k, name in enumerate(classes[:4]):
        assert result[f'IoU.{name}'] == pytest.approx(round(100 * iou[k], 2), abs=1e-9)
    assert result['mIoU'] == pytest.approx(round(100 * np.nanmean(iou), 2), abs=1e-9)
    assert result['aAcc'] == pytest.approx(round(100 * tp.sum() / conf.sum(), 2), abs=1e-9)
    # mmseg's per-class table reaches the log, with the same numbers
    text = log_file.read_text()
    assert 'per class results' in text
    logged = re.search(r'\|\s+person\s+\|\s+([\d.]+)\s+\|', text)
    assert float(logged.group(1)) == pytest.approx(100 * iou[2], abs=0.006)


def test_cross_dataset_iou_scores_in_the_shared_classes(log_file):
    rng = np.random.default_rng(1)
    # nuImages model predictions (ids 0..11) on Cityscapes labels (train ids 0..18, 255)
    preds = [rng.integers(0, 12, size=(20, 30)) for _ in range(2)]
    gts = [rng.integers(0, 19, size=(20, 30)) for _ in range(2)]
    gts[1][:, :5] = 255
    # Hand-written tables (docs/segmentation.md): shared = background, road, car, truck, bus,
    # motorcycle, bicycle, pedestrian
    nuimages_to_shared = {0: 0, 1: 2, 2: 3, 4: 4, 6: 6, 7: 5, 8: 7, 11: 1}  # others ignored
    cityscapes_to_shared = {0: 1, 11: 7, 12: 7, 13: 2, 14: 3, 15: 4, 17: 5, 18: 6}
    cityscapes_to_shared.update({k: 0 for k in range(1, 11)})  # sidewalk ... sky: background
    pred_lut = np.full(256, 255)
    gt_lut = np.full(256, 255)
    for k, v in nuimages_to_shared.items():
        pred_lut[k] = v
    for k, v in cityscapes_to_shared.items():
        gt_lut[k] = v

    metric = CrossDatasetIoUMetric(model_classes='nuimages')
    from s3pt_mm.segmentation import CITYSCAPES_CLASSES
    metric.dataset_meta = dict(classes=CITYSCAPES_CLASSES)
    metric.process({}, _samples(preds, gts))
    result = metric.evaluate(2)

    conf = sum(_confusion(pred_lut[p], gt_lut[g], 8) for p, g in zip(preds, gts))
    # a prediction of an unshared class (trailer, cone, ...) is a miss for the true class
    label_area = sum(np.bincount(gt_lut[g][gt_lut[g] != 255], minlength=8) for g in gts)
    tp = np.diag(conf).astype(float)
    iou = tp / (conf.sum(0) + label_area - tp)
    for k, name in enumerate(('background', 'road', 'car', 'truck', 'bus', 'motorcycle',
                              'bicycle', 'pedestrian')):
        assert result[f'IoU.{name}'] == pytest.approx(round(100 * iou[k], 2), abs=1e-9)
    assert result['mIoU'] == pytest.approx(round(100 * iou.mean(), 2), abs=1e-9)
    logged = re.search(r'\|\s+pedestrian\s+\|\s+([\d.]+)\s+\|', log_file.read_text())
    assert float(logged.group(1)) == pytest.approx(100 * iou[7], abs=0.006)
