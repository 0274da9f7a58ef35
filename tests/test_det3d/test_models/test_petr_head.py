"""PETRHead's set-prediction loss on hand-made predictions with a known value."""
import math

import pytest
import torch
from mmdet3d.structures import LiDARInstance3DBoxes
from mmengine.structures import InstanceData


def _head():
    from mmdet3d.registry import MODELS
    return MODELS.build(dict(type='PETRHead', num_classes=10, in_channels=16, embed_dims=16,
                             num_queries=6, num_layers=1, num_heads=2,
                             feedforward_channels=32))


def _gt(extra: bool) -> InstanceData:
    # (x, y, z_bottom, l, w, h, yaw, vx, vy); GT 0's velocity is unknown (NaN).
    boxes = [[5.0, 2.0, -1.0, 4.2, 1.9, 1.6, 0.3, math.nan, math.nan],
             [-12.0, 7.0, -1.2, 10.5, 2.9, 3.4, -1.2, 2.0, 0.5],
             [20.0, -3.0, -0.8, 0.4, 0.4, 1.0, 0.0, 0.0, 0.0]]
    labels = [0, 3, 8]
    if extra:  # outside pc_range, and a class the detector does not know: both ignored
        boxes += [[60.0, 0.0, -1.0, 4.0, 2.0, 1.5, 0.0, 0.0, 0.0],
                  [3.0, 3.0, -1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]
        labels += [1, -1]
    return InstanceData(bboxes_3d=LiDARInstance3DBoxes(torch.tensor(boxes), box_dim=9),
                        labels_3d=torch.tensor(labels))


def _predictions(head, gt: InstanceData, positive_logit: float = 20.0):
    from s3pt_mm.det3d.models.petr_head import gt_box_codes
    codes = gt_box_codes(gt.bboxes_3d, head.bbox_coder)[:3]
    preds = torch.zeros(6, 10)
    preds[:, 0] = 40.0  # unmatched queries far away
    preds[:, 2:4] = 1.0
    preds[4] = codes[0]
    preds[4, 8:] = 5.0  # GT 0's velocity is NaN: this error must not count
    preds[1] = codes[1]
    preds[1, 8] += 0.5  # velocity error 0.5 (code weight 0.2)
    preds[2] = codes[2]
    preds[2, 0] += 0.8  # 0.8 m along x (code weight 1)
    logits = torch.full((6, 10), -20.0)
    logits[4, 0] = positive_logit
    logits[1, 3], logits[2, 8] = 20.0, 20.0
    return logits[None, None], preds[None, None]


def test_loss_values_on_hand_made_predictions(det3d):
    head = _head()
    gt = _gt(extra=True)
    logits, preds = _predictions(head, gt)
    losses = head.loss_by_feat(logits, preds, [gt])
    # L1 on matched codes / 3 positives x 0.25: (0.8 * 1 + 0.5 * 0.2) / 3 * 0.25.
    assert float(losses['loss_bbox']) == pytest.approx(0.25 * 0.9 / 3, rel=1e-5)
    assert float(losses['loss_cls']) < 1e-6  # logits +-20 all on the right side
    # The extra boxes (out of range, label -1) change nothing.
    same = head.loss_by_feat(logits, preds, [_gt(extra=False)])
    assert float(same['loss_bbox']) == float(losses['loss_bbox'])

    # GT 0's class logit wrong (-20): focal term alpha (1 - p)^2 (-log p) ~ 0.25 * 20,
    # / 3 positives x loss weight 2; the exact box keeps the query matched.
    logits_bad, _ = _predictions(head, gt, positive_logit=-20.0)
    bad = head.loss_by_feat(logits_bad, preds, [gt])
    expected = 2.0 * 0.25 * (20 + math.log1p(math.exp(-20))) / 3
    assert float(bad['loss_cls']) == pytest.approx(expected, rel=1e-4)
    assert float(bad['loss_bbox']) == pytest.approx(0.25 * 0.9 / 3, rel=1e-5)


def test_no_ground_truth_is_all_background(det3d):
    head = _head()
    logits = torch.full((1, 1, 6, 10), -20.0)
    logits[0, 0, 0, 0] = 20.0  # one confident false positive
    empty = InstanceData(bboxes_3d=LiDARInstance3DBoxes(torch.zeros(0, 9), box_dim=9),
                         labels_3d=torch.zeros(0, dtype=torch.long))
    losses = head.loss_by_feat(logits, torch.zeros(1, 1, 6, 10), [empty])
    assert float(losses['loss_bbox']) == 0.0
    # Negative with logit 20: (1 - alpha) p^2 (-log(1 - p)) ~ 0.75 * 20, avg_factor 1, x 2.
    assert float(losses['loss_cls']) == pytest.approx(2 * 0.75 * 20, rel=1e-4)


def test_nan_prediction_does_not_crash_matching_and_is_reported(det3d):
    """One query's box code and logits are NaN (e.g. a diverging run): scipy's assignment would
    raise on the NaN costs; the official rule replaces them by 100, the loss stays finite (the
    NaN query counts as 0) and a warning names layer, sample and query."""
    head = _head()
    gt = _gt(extra=False)
    logits, preds = _predictions(head, gt)
    ref = head.loss_by_feat(logits, preds, [gt])
    logits, preds = logits.clone(), preds.clone()
    preds[0, 0, 3, :] = math.nan  # query 3 is unmatched in the clean case
    logits[0, 0, 3, 2] = math.nan
    with pytest.warns(UserWarning, match=r'non-finite.*layer 0, sample 0, query 3'):
        losses = head.loss_by_feat(logits, preds, [gt])
    assert all(torch.isfinite(v) for v in losses.values())
    # The three GT boxes keep their queries, so the box loss is unchanged.
    assert float(losses['loss_bbox']) == pytest.approx(float(ref['loss_bbox']), rel=1e-5)
    assert float(losses['loss_cls']) < 1.0


def test_assigner_replaces_non_finite_costs(det3d):
    from mmdet3d.registry import TASK_UTILS
    assigner = TASK_UTILS.build(dict(
        type='HungarianAssigner3D',
        match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                     dict(type='BBox3DL1Cost', weight=0.25)]))
    codes = torch.zeros(3, 10)
    codes[1, :2] = torch.tensor([5.0, 2.0])
    codes[2] = math.nan
    pred = InstanceData(scores=torch.zeros(3, 10), bboxes=codes)
    gt = InstanceData(labels=torch.tensor([4]), bboxes=codes[1:2].clone())
    with pytest.warns(UserWarning, match='1 of 3 predictions have a non-finite'):
        result = assigner.assign(pred, gt, img_meta=dict(sample_idx='s7'))
    assert result.gt_inds.tolist() == [0, 1, 0] and result.labels.tolist() == [-1, 4, -1]
