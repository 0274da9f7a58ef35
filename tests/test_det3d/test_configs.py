"""Every PETR config loads, builds, and states S3PT's Tab. 4 settings."""
import pytest
from mmengine.config import Config

PETR_CONFIGS = ['petr_vit-s16-frozen_nuscenes-800x320.py',
                'petr_vit-b16-frozen_nuscenes-800x320.py',
                'petr_vit-s16-frozen_synthetic-800x320.py']


def test_every_petr_config_is_listed(repo_root):
    assert sorted(p.name for p in (repo_root / 'configs' / 'petr').glob('*.py')) == sorted(
        PETR_CONFIGS)


@pytest.mark.parametrize('name', PETR_CONFIGS)
def test_config_builds_with_tab4_settings(det3d, repo_root, name):
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(str(repo_root / 'configs' / 'petr' / name))
    assert cfg.default_scope == 'mmdet3d'
    assert cfg.custom_imports == dict(
        imports=['s3pt_mm', 's3pt_mm.det3d', 's3pt_mm.datasets.transforms3d', 's3pt_mm.csc'],
        allow_failed_imports=False)
    width = 768 if 'vit-b16' in name else 384
    # Tab. 4: 20 epochs cyclic, batch 2, AdamW 3e-4, wd 0.01, clip 35, no fp16.
    assert cfg.train_cfg.max_epochs == 20
    assert cfg.train_dataloader.batch_size == 2
    assert cfg.optim_wrapper.type == 'OptimWrapper'  # not AmpOptimWrapper
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=3e-4, weight_decay=0.01)
    assert cfg.optim_wrapper.clip_grad.max_norm == 35
    assert [s.end for s in cfg.param_scheduler] == [8, 20, 8, 20]
    # Image 320 x 800, frozen teacher backbone loaded from the pre-training checkpoint.
    assert all(t.final_hw == (320, 800) for t in cfg.train_pipeline + cfg.test_pipeline
               if t.type == 'MultiViewResizeCropFlip')
    backbone = cfg.model.img_backbone
    assert backbone.type == 'FrozenBackbone'
    assert backbone.backbone.arch == ('deit-base' if width == 768 else 'deit-small')
    assert backbone.backbone.init_cfg.prefix == 'teacher.module.backbone.'
    # Head: 900 queries, 6 layers, 8 heads, FFN 2048, width 384 | 768.
    head = cfg.model.pts_bbox_head
    assert (head.num_queries, head.num_layers, head.num_heads, head.feedforward_channels,
            head.embed_dims, head.in_channels) == (900, 6, 8, 2048, width, width)
    # Official PETR augmentation / filters: range + name filters, one image draw per sample,
    # global BEV rotation +-0.3925 rad and scale 0.95-1.05, valid-flag ground truth.
    types = [t.type for t in cfg.train_pipeline]
    assert types.index('ObjectRangeFilter') < types.index('GlobalRotScaleBEV')
    assert types.index('MultiViewResizeCropFlip') < types.index('GlobalRotScaleBEV')
    rot = cfg.train_pipeline[types.index('GlobalRotScaleBEV')]
    assert tuple(rot.rot_range) == (-0.3925, 0.3925) and tuple(rot.scale_range) == (0.95, 1.05)
    assert cfg.train_dataloader.dataset.use_valid_flag is True
    assert cfg.model.grid_mask.type == 'GridMask' and cfg.model.grid_mask.prob == 0.7
    assert cfg.model.pts_bbox_head.assigner.type == 'HungarianAssigner3D'
    assert cfg.val_evaluator.type == 'NuScenesRangeMetric'
    assert cfg.val_evaluator.ranges == [20.0, 30.0, 60.0]

    model_cfg = cfg.model.copy()
    model_cfg.img_backbone.backbone.init_cfg = None  # the checkpoint is not in the repository
    model = MODELS.build(model_cfg)
    assert model.img_backbone.backbone.embed_dims == width
    assert model.pts_bbox_head.reference_points.weight.shape == (900, 3)
    assert len(model.pts_bbox_head.decoder.layers) == 6
    head = model.pts_bbox_head
    assert head.share_branches and head.position_embedding.frustum_anchor == 'corner'
    assert all(branch is head.cls_branches[0] for branch in head.cls_branches)
