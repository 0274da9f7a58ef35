"""Schedules end with the run: a `train_cfg.max_epochs` override rescales them, and what no
longer fits is reported (docs/resuming.md, "Schedules")."""
import math
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import Dataset

import s3pt_mm  # noqa: F401
from s3pt_mm.engine import schedule_problems
from s3pt_mm.engine.schedule_fit import drop_schedulers_after_the_run
from s3pt_mm.engine.hooks import S3PTScheduleHook

SCHEDULES = Path(__file__).resolve().parents[2] / 'configs/_base_/schedules'
EPOCH_LENGTH = 2


class _Toy(BaseModel):

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, mode='tensor'):
        return dict(loss=self.linear(inputs).pow(2).mean())


class _Data(Dataset):

    def __len__(self) -> int:
        return EPOCH_LENGTH

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([float(index), 1.0]))


class _Record(Hook):
    """The lr and weight decay every iteration trains with (read before the step)."""

    def __init__(self) -> None:
        self.lr, self.wd = [], []

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        group = runner.optim_wrapper.param_groups[0]
        self.lr.append(group['lr'])
        self.wd.append(group['weight_decay'])


def _run(schedule: str, max_epochs: int, tmp_path):
    cfg = Config.fromfile(str(SCHEDULES / schedule))
    recorder = _Record()
    runner = Runner(
        model=_Toy(), work_dir=str(tmp_path / schedule),
        train_dataloader=dict(dataset=_Data(), batch_size=1, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=cfg.optim_wrapper.optimizer),
        param_scheduler=cfg.param_scheduler,
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),  # the override
        default_hooks=dict(checkpoint=None, logger=dict(type='LoggerHook', interval=100)),
        custom_hooks=[recorder],
        experiment_name=f'schedule_{schedule}_{max_epochs}')
    runner.train()
    return runner, recorder


@pytest.mark.parametrize('schedule, lr, min_lr', [('adamw_500e.py', 5e-4, 1e-5),
                                                  ('adamw_100e_vit-b.py', 7.5e-4, 2e-6)])
def test_max_epochs_override_scales_lr_and_weight_decay(schedule, lr, min_lr, tmp_path):
    """500/100-epoch schedules run for 20 epochs end at their minimum lr and maximum wd."""
    epochs = 20
    runner, seen = _run(schedule, epochs, tmp_path)
    total, warm = epochs * EPOCH_LENGTH, 10 * EPOCH_LENGTH
    assert len(seen.lr) == total
    # Warm-up: LinearLR from 1e-4 lr to lr over 10 epochs (mmengine reaches lr at the last
    # warm-up iteration: factor 1e-4 + (1 - 1e-4) i / (warm - 1)).
    for i in range(warm):
        factor = 1e-4 + (1 - 1e-4) * i / (warm - 1)
        assert seen.lr[i] == pytest.approx(lr * factor, rel=1e-9)
    # Then cosine from lr to min_lr over the remaining iterations (T = total - warm).
    span = total - warm
    for i in range(span):
        cosine = min_lr + (lr - min_lr) * (1 + math.cos(math.pi * i / span)) / 2
        assert seen.lr[warm + i] == pytest.approx(cosine, rel=1e-9)
    # The last iteration trains at min lr up to the cosine's last step, (1 - cos(pi / T)) / 2
    # of the amplitude (3e-6 here with T = 20 iterations; 1e-11 relative on a real run).
    assert seen.lr[-1] - min_lr <= (lr - min_lr) * (math.pi / span) ** 2 / 4
    # Weight decay 0.04 -> 0.4 over the whole run.
    assert seen.wd[0] == pytest.approx(0.04)
    last_wd = 0.4 - 0.36 * (1 + math.cos(math.pi * (total - 1) / total)) / 2
    assert seen.wd[-1] == pytest.approx(last_wd, rel=1e-9)
    assert seen.wd[-1] > 0.399
    # Nothing to report: the ScheduleFitHook check is empty for the rescaled schedule.
    assert schedule_problems(runner.param_schedulers, epochs, runner.max_iters) == []


def test_absolute_schedules_that_no_longer_fit_are_reported(tmp_path):
    # What the 500-epoch schedule was before: absolute end/T_max. Run for 20 epochs.
    old = [dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
                convert_to_iter_based=True),
           dict(type='CosineAnnealingLR', T_max=490, eta_min=1e-5, by_epoch=True, begin=10,
                end=500, convert_to_iter_based=True)]
    runner = Runner(
        model=_Toy(), work_dir=str(tmp_path / 'old'),
        train_dataloader=dict(dataset=_Data(), batch_size=1, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=5e-4)), param_scheduler=old,
        train_cfg=dict(by_epoch=True, max_epochs=20), default_hooks=dict(checkpoint=None),
        experiment_name='schedule_old_absolute')
    runner.train()
    problems = schedule_problems(runner.param_schedulers, 20, runner.max_iters)
    assert len(problems) == 1
    assert 'CosineAnnealingLR (lr) runs over iterations 20-1000' in problems[0]
    assert 'cut off 2 %' in problems[0]
    # The lr it leaves behind: far above the minimum (what the override used to give).
    assert runner.optim_wrapper.param_groups[0]['lr'] > 4.9e-4


def test_cyclic_schedule_override_is_reported(tmp_path):
    cfg = Config.fromfile(str(SCHEDULES / 'cyclic_20e.py'))

    class _Sched:  # the built form: epoch-based, begin/end in epochs
        by_epoch = True

        def __init__(self, s):
            self.begin, self.end = s['begin'], s['end']
            self.T_max = s['T_max']
            self.param_name = 'lr' if 'LR' in s['type'] else 'momentum'

    built = [_Sched(s) for s in cfg.param_scheduler]
    assert schedule_problems(built, 20, 20 * 100) == []
    problems = schedule_problems(built, 10, 10 * 100)
    assert sum('cut off 17 %' in p for p in problems) == 2  # 2 of the 12 epochs of phase 2
    problems = schedule_problems(built, 30, 30 * 100)
    assert any('lr stays constant for the last 10 epochs' in p for p in problems)


def test_s3pt_schedule_hook_reports_epoch_counts_that_do_not_fit():
    hook = S3PTScheduleHook(teacher_temp_warmup_epochs=30, freeze_last_layer_epochs=1)
    assert hook.fit_problems(500) == []
    problems = hook.fit_problems(20)
    assert len(problems) == 1 and 'teacher temperature ends at' in problems[0]
    # linspace(0.04, 0.07, 30)[19]
    assert f'{0.04 + 0.03 * 19 / 29:.4g}' in problems[0]
    assert len(S3PTScheduleHook(teacher_temp_warmup_epochs=1, freeze_last_layer_epochs=3,
                                cross_image_start_epoch=3).fit_problems(3)) == 2


def test_phases_after_the_run_are_dropped_not_crashed_on():
    """500e schedule run for 5 epochs: the cosine (from epoch 10) cannot run; mmengine would
    fail to build it (end 5 < begin 10), tools/train.py removes it and says so."""
    cfg = Config.fromfile(str(SCHEDULES / 'adamw_500e.py'))
    cfg.train_cfg.max_epochs = 5
    removed = drop_schedulers_after_the_run(cfg)
    assert removed == ['CosineAnnealingLR starts at epoch 10, but the run has 5 epochs: '
                       'removed (it would never run)']
    assert [s['type'] for s in cfg.param_scheduler] == ['LinearLR',
                                                        'CosineAnnealingParamScheduler']
    cfg.train_cfg.max_epochs = 500
    assert drop_schedulers_after_the_run(cfg) == []
