"""Stop after k iterations, then resume == an uninterrupted run (weights, queue, schedules)."""
import torch
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import Dataset

import s3pt_mm  # noqa: F401
from s3pt_mm.engine import get_ori_model

IMG, PATCH = 32, 8
NUM_TOKENS = (IMG // PATCH)**2


class _PackedViews(Dataset):
    """Already-packed S3PT samples: two uint8 views and token geometry, fixed per index."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        g = torch.Generator().manual_seed(index)
        views = [torch.randint(0, 256, (3, IMG, IMG), generator=g, dtype=torch.uint8)
                 for _ in range(2)]
        sample = DataSample()
        sample.set_field(torch.rand(2, NUM_TOKENS, 2, generator=g) * 300, 'token_pos')
        sample.set_field(torch.rand(2, NUM_TOKENS, generator=g) * 50 + 1, 'token_depth')
        sample.set_field(torch.rand(2, NUM_TOKENS, generator=g) > 0.1, 'token_depth_valid')
        return dict(inputs=views, data_samples=sample)


def _runner(work_dir, max_epochs: int, resume_from=None) -> Runner:
    torch.manual_seed(0)
    model = dict(
        type='S3PT',
        data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[128.] * 3, std=[64.] * 3),
        backbone=dict(type='mmpretrain.VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=IMG, patch_size=PATCH, out_type='raw', drop_path_rate=0.0),
        head=dict(type='S3PTHead', in_channels=32, out_channels=64, hidden_channels=64,
                  bottleneck_channels=16, use_vmf=True, norm_last_layer=False),
        assigner=dict(type='DepthGuidedSinkhornAssigner', num_clusters=4,
                      alpha_pos=(0.5, 1.0), alpha_depth=(2.0, 4.0)),
        queue=dict(queue_size=6))
    return Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=_PackedViews(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04),
                           paramwise_cfg=dict(flat_decay_mult=0.0),
                           constructor='StudentOptimWrapperConstructor'),
        param_scheduler=[dict(type='CosineAnnealingParamScheduler', param_name='weight_decay',
                              eta_min_ratio=10.0, T_max=3, by_epoch=True,
                              convert_to_iter_based=True)],
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        custom_hooks=[dict(type='S3PTScheduleHook', warmup_teacher_temp=0.04, teacher_temp=0.07,
                           teacher_temp_warmup_epochs=3, freeze_last_layer_epochs=1,
                           cross_image_start_epoch=1)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmpretrain',
        randomness=dict(seed=1),
        resume=resume_from is not None,
        load_from=resume_from,
        experiment_name=f'resume_{max_epochs}_{resume_from is not None}')


def _schedule(runner) -> dict:
    model = get_ori_model(runner.model)
    return dict(teacher_temp=model.head.get_teacher_temp('cls'),
                object_temp=model.head.get_teacher_temp('object'),
                alpha_pos=model.assigner.alpha_pos, alpha_depth=model.assigner.alpha_depth,
                cross_image=model.cross_image_enabled, frozen=model.head.last_layer_frozen,
                weight_decay=runner.optim_wrapper.param_groups[0]['weight_decay'])


def test_resume_equals_uninterrupted(tmp_path):
    straight = _runner(tmp_path / 'straight', max_epochs=3)
    straight.train()

    # "Stopped after iteration 4": the same run's checkpoint at the end of epoch 1 (a run
    # configured for fewer epochs would anneal the EMA momentum and schedules differently).
    resumed = _runner(tmp_path / 'resumed', max_epochs=3,
                      resume_from=str(tmp_path / 'straight' / 'epoch_1.pth'))
    resumed.train()

    assert resumed.iter == straight.iter == 12
    expected, got = straight.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=1e-6, msg=key)
    # The queue really holds objects and the cross-image loss ran.
    assert int(got['queue.num_enqueued']) == 24 and bool(got['queue.valid'].any())
    assert _schedule(resumed) == _schedule(straight)
    # Epoch 2 of 3: warm-up linspace(0.04, 0.07, 3)[2] and alpha linspace(α1, α0, 3)[2].
    assert abs(_schedule(straight)['teacher_temp'] - 0.07) < 1e-9
    assert abs(_schedule(straight)['alpha_pos'] - 0.5) < 1e-9
    assert abs(_schedule(straight)['alpha_depth'] - 2.0) < 1e-9
