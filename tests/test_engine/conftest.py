"""Fixtures of the engine tests: tiny synthetic scenes and a tiny S3PT config file on them.

The config is ``configs/s3pt/demo_vit-tiny_synthetic-cpu.py`` (the real pre-training pipeline:
LiDAR -> depth -> IP-Basic -> multi-crop with the DINO photometric augmentation) with a
2-layer, 32-channel ViT on 48x48 crops and 12 images, so a training run takes seconds.
"""
from pathlib import Path
from typing import Callable, Optional

import pytest
import torch

from s3pt_mm.synthetic import SyntheticConfig, generate_dataset

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / 'configs/s3pt/demo_vit-tiny_synthetic-cpu.py'

#: 1 scene x 2 samples x 6 cameras at 192x108: 12 train images (no val scene).
TINY_SCENES = SyntheticConfig(num_scenes=1, samples_per_scene=2, seed=5, image_size=(192, 108),
                              num_val_scenes=0)

#: A hook, imported by the config through ``custom_imports``, that SIGKILLs its own process
#: before iteration ``$KILL_AT_ITER`` (0-based) when that variable is set.
KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAtIterHook(Hook):

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if os.environ.get('KILL_AT_ITER') == str(runner.iter):
            os.kill(os.getpid(), signal.SIGKILL)
'''

CONFIG = '''
_base_ = [{demo!r}]
custom_imports = dict(imports=['s3pt_mm'{extra_imports}], allow_failed_imports=False)
crop = 48
model = dict(
    backbone=dict(arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                  img_size=crop, drop_path_rate=0.1),  # drop path: exercises IterationSeedHook
    head=dict(in_channels=32, out_channels=64, hidden_channels=64, bottleneck_channels=16),
    assigner=dict(num_clusters=4),
    queue=dict(queue_size=8))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadLidarPoints'),
    dict(type='ProjectLidarToDepth'),
    dict(type='CompleteDepth', method='fill_in_fast', extrapolate=True, blur_type='bilateral'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=crop,
         global_crop_scale=(0.25, 1.0), num_local_crops=0, with_depth=True, patch_size=16),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(batch_size=4, num_workers={num_workers},
                        persistent_workers={persistent},
                        dataset=dict(data_root={data_root!r}, pipeline=train_pipeline))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
custom_hooks = [
    dict(type='S3PTScheduleHook', warmup_teacher_temp=0.03, teacher_temp=0.03,
         teacher_temp_warmup_epochs=1, freeze_last_layer_epochs=1, cross_image_start_epoch=1),
{extra_hooks}]
'''


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine, 2 threads spin-wait
    (a training step 8x slower). Every run of a test uses the same setting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def tiny_scenes_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('tiny_scenes')
    generate_dataset(str(root), TINY_SCENES)
    return root


@pytest.fixture
def tiny_s3pt_config(tiny_scenes_root, tmp_path) -> Callable[..., Path]:
    """Write the tiny S3PT config; returns ``make(num_workers=0, persistent=False, ...)``."""

    def make(num_workers: int = 0, persistent: bool = False, max_epochs: int = 3,
             kill_hook: bool = False, name: Optional[str] = None) -> Path:
        if kill_hook:
            (tmp_path / 'kill_at_iter.py').write_text(KILL_HOOK)
        text = CONFIG.format(
            demo=str(DEMO_CONFIG), data_root=str(tiny_scenes_root), num_workers=num_workers,
            persistent=persistent, max_epochs=max_epochs,
            extra_imports=", 'kill_at_iter'" if kill_hook else '',
            extra_hooks="    dict(type='KillAtIterHook'),\n" if kill_hook else '')
        path = tmp_path / (name or f'tiny_s3pt_w{num_workers}_p{int(persistent)}.py')
        path.write_text(text)
        return path

    return make
