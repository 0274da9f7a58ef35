"""mmdet3d's sparse-convolution models on CPU: CenterPoint (SparseEncoder, the CM3D detector)
and MinkUNet (spconv backend, the CPU-safe MinkUNet voxelisation), forward and backward."""
import numpy as np
import pytest
import torch

pytest.importorskip('spconv.pytorch')


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: tiny sparse tensors thrash with more on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def registry():
    from mmengine.registry import init_default_scope

    import s3pt_mm.det3d  # noqa: F401  (registers CPUSafeDet3DDataPreprocessor, the spconv backward)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    return MODELS


def _points(n: int, seed: int, dims: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n, 3, generator=g) * torch.tensor([60.0, 60.0, 4.0]) - torch.tensor(
        [30.0, 30.0, 2.0])
    return torch.cat([xyz, torch.rand(n, dims - 3, generator=g)], dim=1)


@pytest.mark.slow
def test_centerpoint_tiny_forward_backward_on_cpu(registry, repo_root):
    from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
    from mmengine.config import Config
    from mmengine.structures import InstanceData
    cfg = Config.fromfile(str(repo_root / 'configs/cm3d/'
                              'centerpoint_tiny_synthetic-cpu_cm3d-pretrain.py'))
    cfg.model.test_cfg.pts.score_threshold = 0.3  # few boxes from an untrained head
    torch.manual_seed(0)
    model = registry.build(cfg.model)
    model.train()
    samples = []
    for k in range(2):
        s = Det3DDataSample()
        s.gt_instances_3d = InstanceData(
            bboxes_3d=LiDARInstance3DBoxes(torch.tensor([[10.0, 2.0 * k, -1.0, 4.5, 1.8, 1.4,
                                                          0.3, 0.0, 0.0]]), box_dim=9),
            labels_3d=torch.tensor([0]))
        s.set_metainfo(dict(box_type_3d=LiDARInstance3DBoxes))
        samples.append(s)
    data = dict(inputs=dict(points=[_points(800, 1), _points(600, 2)]), data_samples=samples)
    batch = model.data_preprocessor(data, training=True)
    losses = model(**batch, mode='loss')
    total = sum(v.sum() for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    enc = model.pts_middle_encoder
    grads = [p.grad for n, p in enc.named_parameters() if p.dim() == 5]  # spconv weights
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(data, training=False), mode='predict')
    assert len(out) == 2 and out[0].pred_instances_3d.bboxes_3d.tensor.shape[1] == 9


def test_cpu_safe_minkunet_voxelisation(registry):
    pre = registry.build(dict(type='CPUSafeDet3DDataPreprocessor', voxel=True,
                              voxel_type='minkunet', batch_first=False, max_voxels=None,
                              voxel_layer=dict(max_num_points=-1,
                                               point_cloud_range=[-100, -100, -20, 100, 100, 20],
                                               voxel_size=[0.5, 0.5, 0.5],
                                               max_voxels=(-1, -1))))
    from mmdet3d.structures import Det3DDataSample, PointData
    pts = [_points(400, 3, 4), _points(300, 4, 4)]
    samples = []
    for p in pts:
        s = Det3DDataSample()
        s.gt_pts_seg = PointData(pts_semantic_mask=torch.arange(len(p)) % 7)
        samples.append(s)
    out = pre(dict(inputs=dict(points=pts), data_samples=samples), training=True)
    coors, voxels = out['inputs']['voxels']['coors'], out['inputs']['voxels']['voxels']
    offset = 0
    for b, (p, s) in enumerate(zip(pts, out['data_samples'])):
        grid = torch.round(p[:, :3] / 0.5).int()
        grid -= grid.min(0)[0]
        mine = coors[:, -1] == b  # batch index last (batch_first=False)
        c = coors[mine, :3]
        assert len(c) == len(torch.unique(grid, dim=0))  # one voxel per occupied cell
        # every point maps to the voxel of its own cell, and that voxel holds a point of it
        np.testing.assert_array_equal(c[s.point2voxel_map].numpy(), grid.numpy())
        v = voxels[offset:offset + len(c)]
        np.testing.assert_array_equal(torch.round(v[:, :3] / 0.5).int().numpy() -
                                      torch.round(p[:, :3] / 0.5).int().min(0)[0].numpy(),
                                      c.numpy())
        assert s.gt_pts_seg.voxel_semantic_mask.shape == (len(c), )
        offset += len(c)


def test_minkunet_spconv_backward_on_cpu(registry):
    model = registry.build(dict(
        type='MinkUNet',
        data_preprocessor=dict(type='CPUSafeDet3DDataPreprocessor', voxel=True,
                               voxel_type='minkunet', batch_first=True, max_voxels=80000,
                               voxel_layer=dict(max_num_points=-1,
                                                point_cloud_range=[-100, -100, -20, 100, 100,
                                                                   20],
                                                voxel_size=[0.5, 0.5, 0.5], max_voxels=(-1, -1))),
        backbone=dict(type='MinkUNetBackbone', in_channels=4, num_stages=2, base_channels=8,
                      encoder_channels=[8, 16], encoder_blocks=[1, 1], decoder_channels=[16, 8],
                      decoder_blocks=[1, 1], block_type='basic', sparseconv_backend='spconv'),
        decode_head=dict(type='MinkUNetHead', channels=8, num_classes=3, dropout_ratio=0,
                         loss_decode=dict(type='mmdet.CrossEntropyLoss', avg_non_ignore=True),
                         ignore_index=3),
        train_cfg=dict(), test_cfg=dict()))
    from mmdet3d.structures import Det3DDataSample, PointData
    pts = [_points(500, 5, 4)]
    s = Det3DDataSample()
    s.gt_pts_seg = PointData(pts_semantic_mask=torch.arange(500) % 3)
    batch = model.data_preprocessor(dict(inputs=dict(points=pts), data_samples=[s]),
                                    training=True)
    losses = model(**batch, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.backbone.parameters() if p.dim() == 5]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
