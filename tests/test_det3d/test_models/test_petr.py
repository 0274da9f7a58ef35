"""PETR end to end on CPU: forward + backward on the real keyframe and on synthetic scenes,
inference output, and the dependence of the prediction on each view's lidar2img."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'


def _batch(source, request, build_petr_dataset):
    if source == 'real':
        root = request.getfixturevalue('nuscenes_sample_dir')
        ds = build_petr_dataset(root, REAL_PKL, augment=True,
                                data_prefix=request.getfixturevalue('real_prefix'))
        return [ds[0]]
    root = request.getfixturevalue('synthetic_petr_root')
    ds = build_petr_dataset(root, 'nuscenes_infos_train.pkl', augment=True)
    return [ds[0], ds[1]]


@pytest.mark.parametrize('source', ['real', 'synthetic'])
def test_forward_backward(det3d, tiny_petr_cfg, build_petr_dataset, single_thread, request,
                          source):
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(tiny_petr_cfg(grid_mask=True))
    model.init_weights()
    model.train()
    items = _batch(source, request, build_petr_dataset)
    batch = model.data_preprocessor(pseudo_collate(items), training=True)
    assert tuple(batch['inputs']['imgs'].shape) == (len(items), 6, 3, 64, 160)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'd0.loss_cls', 'd0.loss_bbox'}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    sum(losses.values()).backward()

    head = model.pts_bbox_head
    for name, p in model.named_parameters():
        if name.startswith('img_backbone.'):
            assert p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for part in (model.img_neck, head.input_proj, head.position_embedding, head.query_embedding,
                 head.reference_points, head.decoder, head.cls_branches, head.reg_branches):
        assert sum(float(p.grad.abs().sum()) for p in part.parameters()) > 0

    # The targets are the boxes inside pc_range (+-51.2 m on the ground plane).
    from s3pt_mm.det3d.models.petr_head import gt_box_codes
    for sample in batch['data_samples']:
        gt = sample.gt_instances_3d
        centre = gt.bboxes_3d.gravity_center
        inside = (centre[:, :2].abs() <= 51.2).all(1)
        codes = gt_box_codes(gt.bboxes_3d, head.bbox_coder)
        assert torch.equal(head._valid_targets(codes, gt.labels_3d), inside)
        if source == 'synthetic':
            assert 0 < int(inside.sum()) < len(gt)  # synthetic scenes annotate up to 80 m


def test_predict_outputs_lidar_boxes(det3d, tiny_petr_cfg, build_petr_dataset,
                                     synthetic_petr_root, single_thread):
    from mmdet3d.registry import MODELS
    from mmdet3d.structures import LiDARInstance3DBoxes
    torch.manual_seed(0)
    model = MODELS.build(tiny_petr_cfg(num_queries=30))
    model.init_weights()
    model.eval()
    ds = build_petr_dataset(synthetic_petr_root, 'nuscenes_infos_val.pkl', train=False)
    batch = model.data_preprocessor(pseudo_collate([ds[0], ds[1]]), training=False)
    with torch.no_grad():
        out = model(**batch, mode='predict')
        raw_cls, raw_reg = model(**batch, mode='tensor')
    assert raw_cls.shape == (2, 2, 30, 10) and raw_reg.shape == (2, 2, 30, 10)
    for sample, cls_scores, reg in zip(out, raw_cls[-1], raw_reg[-1]):
        pred = sample.pred_instances_3d
        assert isinstance(pred.bboxes_3d, LiDARInstance3DBoxes)
        assert pred.bboxes_3d.tensor.shape == (300, 9)  # 30 queries x 10 classes, top 300
        assert torch.all(pred.scores_3d[:-1] >= pred.scores_3d[1:])
        # The best detection is the best (query, class) logit, with that query's centre.
        q, c = divmod(int(cls_scores.flatten().argmax()), 10)
        assert int(pred.labels_3d[0]) == c
        torch.testing.assert_close(pred.bboxes_3d.gravity_center[0], reg[q, [0, 1, 4]])
        assert pred.bboxes_3d.gravity_center[:, :2].abs().max() <= 51.2 + 1e-4


def test_prediction_follows_the_cameras(det3d, tiny_petr_cfg, build_petr_dataset,
                                        synthetic_petr_root, single_thread):
    """Swapping two views' lidar2img (same images) changes the output: the 3D position
    embedding, not the view order, tells the queries where the pixels are."""
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(tiny_petr_cfg(num_queries=30))
    model.init_weights()
    model.eval()
    ds = build_petr_dataset(synthetic_petr_root, 'nuscenes_infos_val.pkl', train=False)
    batch = model.data_preprocessor(pseudo_collate([ds[0]]), training=False)
    with torch.no_grad():
        _, reg = model(**batch, mode='tensor')
        meta = batch['data_samples'][0].metainfo
        swapped = list(meta['lidar2img'])
        swapped[0], swapped[3] = swapped[3], swapped[0]
        batch['data_samples'][0].set_metainfo(dict(lidar2img=swapped))
        _, reg_swapped = model(**batch, mode='tensor')
    assert float((reg - reg_swapped).abs().max()) > 1e-3


def test_missing_lidar2img_is_reported(det3d, tiny_petr_cfg):
    from mmdet3d.registry import MODELS
    from mmdet3d.structures import Det3DDataSample
    model = MODELS.build(tiny_petr_cfg())
    sample = Det3DDataSample(metainfo=dict(sample_idx=42, img_shape=(64, 160)))
    with pytest.raises(ValueError, match='sample 42 has no lidar2img'):
        model(dict(imgs=torch.zeros(1, 6, 3, 64, 160)), [sample], mode='tensor')
