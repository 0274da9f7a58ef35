"""Every config under configs/ loads and its model builds; S3PT configs state Tab. 3."""
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS, init_default_scope

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs'
LEAF_CONFIGS = sorted(p for p in CONFIG_DIR.rglob('*.py') if '_base_' not in p.parts)


def test_there_are_configs():
    names = {p.relative_to(CONFIG_DIR).as_posix() for p in LEAF_CONFIGS}
    assert {'s3pt/vit-s16_nuscenes.py', 's3pt/vit-b16_nuscenes.py', 'cribo/vit-s16_nuscenes.py',
            'dino/vit-s16_nuscenes.py'} <= names


@pytest.mark.parametrize('path', LEAF_CONFIGS, ids=lambda p: p.relative_to(CONFIG_DIR).as_posix())
def test_config_loads_and_model_builds(path):
    cfg = Config.fromfile(str(path))
    assert cfg.get('default_scope') in ('mmpretrain', 'mmseg', 'mmdet3d')
    init_default_scope(cfg.default_scope)
    with torch.device('meta') if _is_big(cfg) else nullcontext():
        model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0


def _is_big(cfg) -> bool:
    # Meta tensors: no memory for the 65536-prototype heads and the 25000-image CrIBo queue.
    return cfg.default_scope == 'mmpretrain'


def _hook(cfg, type_name):
    return next(h for h in cfg.custom_hooks if h['type'] == type_name)


@pytest.mark.parametrize('name, epochs, lr, min_lr, clip, freeze, warmup, scale, arch', [
    ('s3pt/vit-s16_nuscenes.py', 500, 5e-4, 1e-5, None, 1, 30, (0.25, 1.0), 'deit-small'),
    ('s3pt/vit-b16_nuscenes.py', 100, 7.5e-4, 2e-6, 0.3, 3, 50, (0.32, 1.0), 'deit-base'),
])
def test_s3pt_configs_state_tab3(name, epochs, lr, min_lr, clip, freeze, warmup, scale, arch):
    cfg = Config.fromfile(str(CONFIG_DIR / name))
    model = cfg.model
    assert cfg.train_cfg.max_epochs == epochs
    assert cfg.train_dataloader.batch_size * 8 == 256 and cfg.auto_scale_lr.base_batch_size == 256
    optim = cfg.optim_wrapper
    assert optim.type == 'OptimWrapper'  # fp32 as written; fp16 is tools/train.py --amp
    assert optim.optimizer.type == 'AdamW' and optim.optimizer.lr == lr
    assert optim.optimizer.weight_decay == 0.04
    assert (optim.get('clip_grad') or {}).get('max_norm') == clip
    warm, cosine, decay = cfg.param_scheduler
    assert (warm.type, warm.end) == ('LinearLR', 10)
    # The cosine ends with the run (no `end`: mmengine uses max_epochs; docs/resuming.md).
    assert (cosine.type, cosine.eta_min, cosine.begin) == ('CosineAnnealingLR', min_lr, 10)
    assert 'end' not in cosine and 'T_max' not in cosine and 'end' not in decay
    assert decay.param_name == 'weight_decay' and 0.04 * decay.eta_min_ratio == pytest.approx(0.4)
    assert model.backbone.arch == arch and model.backbone.patch_size == 16
    assert model.backbone.drop_path_rate == 0.1 and model.backbone.out_type == 'raw'
    assert model.base_momentum == pytest.approx(1 - 0.996)
    head = model.head
    assert (head.num_layers, head.hidden_channels, head.bottleneck_channels) == (3, 2048, 256)
    assert head.out_channels == 65536 and head.norm_last_layer is False
    assert head.use_vmf is True and head.centering == 'probability'
    assert head.student_temp == 0.1
    hook = _hook(cfg, 'S3PTScheduleHook')
    assert (hook.warmup_teacher_temp, hook.teacher_temp) == (0.04, 0.07)
    assert hook.teacher_temp_warmup_epochs == warmup and hook.freeze_last_layer_epochs == freeze
    assigner = model.assigner
    assert assigner.lam == 20.0 and assigner.sinkhorn_iterations == 1
    assert tuple(assigner.alpha_pos) == (1.0, 1.0) and tuple(assigner.alpha_depth) == (4.0, 4.0)
    assert assigner.num_clusters == 128 and model.queue.queue_size == 2500
    crop = next(t for t in cfg.train_dataloader.dataset.pipeline
                if t['type'] == 'MultiCropWithDepth')
    assert crop.num_global_crops == 2 and crop.num_local_crops == 0 and crop.with_depth
    assert crop.global_crop_size == 224 and tuple(crop.global_crop_scale) == scale


def test_baselines_differ_only_where_the_papers_say():
    s3pt = Config.fromfile(str(CONFIG_DIR / 's3pt/vit-s16_nuscenes.py')).model
    cribo = Config.fromfile(str(CONFIG_DIR / 'cribo/vit-s16_nuscenes.py')).model
    dino = Config.fromfile(str(CONFIG_DIR / 'dino/vit-s16_nuscenes.py'))
    assert (cribo.assigner.num_clusters, cribo.assigner.sinkhorn_iterations) == (32, 5)
    assert tuple(cribo.assigner.alpha_depth) == (0.0, 0.0) and cribo.queue.queue_size == 25000
    assert cribo.head.use_vmf is False and cribo.backbone == s3pt.backbone
    assert dino.model.assigner is None and dino.model.queue is None
    crop = next(t for t in dino.train_dataloader.dataset.pipeline
                if t['type'] == 'MultiCropWithDepth')
    assert (crop.num_local_crops, crop.local_crop_size, tuple(crop.local_crop_scale)) == (
        10, 96, (0.05, 0.25))
