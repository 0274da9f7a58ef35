"""BBox3DL1Cost and mmdet's HungarianAssigner on PETR codes recover a permutation."""
import torch
from mmengine.structures import InstanceData


def test_cost_is_weighted_l1_of_the_first_8_entries(det3d):
    from s3pt_mm.det3d.models import BBox3DL1Cost
    pred = torch.randn(4, 10)
    gt = torch.randn(3, 10)
    cost = BBox3DL1Cost(weight=0.25)(InstanceData(bboxes=pred), InstanceData(bboxes=gt))
    ref = 0.25 * (pred[:, None, :8] - gt[None, :, :8]).abs().sum(-1)
    torch.testing.assert_close(cost, ref)


def test_hungarian_assignment_recovers_the_matching(det3d):
    from mmdet3d.registry import TASK_UTILS
    assigner = TASK_UTILS.build(dict(
        type='mmdet.HungarianAssigner',
        match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                     dict(type='BBox3DL1Cost', weight=0.25)]))
    torch.manual_seed(0)
    gt_codes = torch.randn(5, 10) * 5
    gt_labels = torch.tensor([0, 3, 3, 7, 9])
    perm = torch.tensor([6, 2, 9, 0, 4])  # query holding GT i
    codes = torch.randn(10, 10) * 5
    codes[perm] = gt_codes + 0.01 * torch.randn(5, 10)
    logits = torch.full((10, 10), -4.0)
    logits[perm, gt_labels] = 4.0
    result = assigner.assign(InstanceData(scores=logits, bboxes=codes),
                             InstanceData(labels=gt_labels, bboxes=gt_codes))
    expected = torch.zeros(10, dtype=torch.long)
    expected[perm] = torch.arange(1, 6)
    assert torch.equal(result.gt_inds, expected)
