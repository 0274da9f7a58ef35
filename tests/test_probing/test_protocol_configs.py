"""The protocol's three leaf configs share one budget and differ only where the methods do."""
from pathlib import Path

import pytest
from mmengine.config import Config

from s3pt_mm.probing.protocol import METHOD_CONFIGS, REPO, method_config


def _load(method):
    return Config.fromfile(str(REPO / METHOD_CONFIGS[method]))


def test_every_method_gets_the_same_budget():
    cfgs = {m: _load(m) for m in METHOD_CONFIGS}
    ref = cfgs['s3pt']
    for method, cfg in cfgs.items():
        assert cfg.model.backbone == ref.model.backbone, method
        for key in ('in_channels', 'out_channels', 'hidden_channels', 'bottleneck_channels'):
            assert cfg.model.head[key] == ref.model.head[key], (method, key)
        assert cfg.model.base_momentum == ref.model.base_momentum
        for key in ('train_dataloader', 'optim_wrapper', 'param_scheduler', 'train_cfg',
                    'custom_hooks'):
            assert cfg[key] == ref[key], (method, key)
    crop = next(t for t in ref.train_dataloader.dataset.pipeline
                if t['type'] == 'MultiCropWithDepth')
    assert (crop.global_crop_size, crop.patch_size, crop.num_local_crops) == (64, 8, 0)
    assert ref.model.backbone.patch_size == 8 and ref.model.backbone.arch['embed_dims'] == 128


def test_methods_keep_their_own_model_differences():
    base = {m: Config.fromfile(str(REPO / f'configs/_base_/models/{m}_vit-s16.py')).model
            for m in METHOD_CONFIGS}
    for method in METHOD_CONFIGS:
        model = _load(method).model
        for key in ('use_vmf', 'centering', 'with_object_head'):
            assert model.head.get(key) == base[method].head.get(key), (method, key)
        if base[method].get('assigner') is None:
            assert model.get('assigner') is None and model.get('queue') is None
            continue
        for key in ('sinkhorn_iterations', 'alpha_depth', 'alpha_pos', 'lam'):
            assert model.assigner[key] == base[method].assigner[key], (method, key)
        # k scaled with the token count: 2 x 64 tokens instead of 2 x 196.
        scaled = base[method].assigner.num_clusters * 64 / 196
        assert model.assigner.num_clusters == pytest.approx(scaled, abs=1)


def test_method_config_sets_seed_and_paths(tmp_path):
    cfg = method_config('cribo', Path('somewhere'), tmp_path, seed=3, max_epochs=1)
    assert cfg.randomness.seed == 3 and cfg.model.cluster_seed == 3
    assert cfg.train_dataloader.dataset.data_root == 'somewhere'
    assert cfg.train_cfg.max_epochs == 1 and cfg.default_hooks.checkpoint is None
    with pytest.raises(KeyError, match='unknown method'):
        method_config('byol', Path('x'), tmp_path, seed=0)
