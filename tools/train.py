"""Train with an mmengine Runner from a config (pre-training, segmentation or detection).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [auto|auto-or-fresh|CKPT]] [--amp]
                          [--auto-scale-lr] [--no-pin-memory] [--no-persistent-workers]
                          [--cfg-options key=value ...] [--launcher {none,pytorch,slurm,mpi}]

Single process on CPU or one GPU, or one of the processes started by tools/dist_train.sh.

The switches follow mmpretrain's ``tools/train.py``: ``--amp`` turns the optimizer wrapper into
an ``AmpOptimWrapper`` with ``loss_scale='dynamic'`` (the configs train in fp32, so CPU runs need
no override; the paper's fp16 runs add ``--amp``); ``--auto-scale-lr`` enables the config's
``auto_scale_lr`` (mmengine scales the lr by the real total batch over ``base_batch_size``);
``--no-pin-memory`` / ``--no-persistent-workers`` switch those off in every dataloader.

Checkpoints are never overwritten by another run (docs/resuming.md):

- without ``--resume`` the work dir must hold no checkpoint (a new run would overwrite the
  earlier run's ``epoch_N.pth``); use another ``--work-dir`` for a new run;
- ``--resume`` (= ``auto``) continues from the newest checkpoint of the work dir that loads
  (an unreadable newer one, e.g. cut short by a kill, is reported, renamed to
  ``*.pth.unreadable`` and skipped); with nothing to resume from it is an error naming the
  work dir; ``--resume auto-or-fresh`` starts a new run instead when the work dir holds no
  checkpoint at all;
- ``--resume CKPT`` continues from that file; it is refused if the continued run would
  overwrite newer checkpoints in the work dir;
- a checkpoint written for another model or optimizer is refused before anything is loaded
  (CheckpointCompatibilityHook).
"""
import argparse
import logging
import os
import os.path as osp

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

import s3pt_mm  # noqa: F401  registers s3pt_mm modules and the checkpoint allow-list
from s3pt_mm.engine.resume import ResumeError, plan_resume, set_aside_unreadable
from s3pt_mm.engine.schedule_fit import drop_schedulers_after_the_run

#: Hooks every run gets (added to ``custom_hooks`` when the config does not have them):
#: checkpoint compatibility on resume, torch seeded per iteration, a stop at the first
#: non-finite loss, a warning when the schedules do not fit ``max_epochs``.
SAFETY_HOOKS = ('CheckpointCompatibilityHook', 'IterationSeedHook', 'NonFiniteLossHook',
                'ScheduleFitHook')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a model with an s3pt_mm config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go; defaults to '
                        './work_dirs/<config name>')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help="'auto' (the default when the flag has no value): continue from "
                        'the newest loadable checkpoint of the work dir, an error if there is '
                        "none; 'auto-or-fresh': the same, or a new run when the work dir holds "
                        'no checkpoint; CKPT: continue from that checkpoint')
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision: AmpOptimWrapper with dynamic loss scaling')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help="scale the lr by (GPUs x batch size) / the config's "
                        'auto_scale_lr.base_batch_size')
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='pin_memory=False in every dataloader')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='persistent_workers=False in every dataloader')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. train_dataloader.batch_size=8')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (set by dist_train.sh/slurm_train.sh)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _hook_types(hooks) -> set:
    if not hooks:
        return set()
    items = hooks.values() if isinstance(hooks, dict) else hooks
    return {h.get('type') for h in items if isinstance(h, dict)}


def add_safety_hooks(cfg: Config) -> None:
    """Append the hooks of :data:`SAFETY_HOOKS` the config does not register already."""
    present = _hook_types(cfg.get('default_hooks')) | _hook_types(cfg.get('custom_hooks'))
    missing = [ConfigDict(type=name) for name in SAFETY_HOOKS if name not in present]
    if missing:
        cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + missing


def build_config(args: argparse.Namespace) -> Config:
    """Load the config, apply the command line on top of it and decide what to resume.

    Raises:
        ResumeError: see :func:`s3pt_mm.engine.resume.plan_resume`.
    """
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('OptimWrapper', 'AmpOptimWrapper'):
            raise ValueError(f'--amp: {args.config} uses optim_wrapper.type={optim_wrapper!r}; '
                             "only 'OptimWrapper' can be switched to 'AmpOptimWrapper'")
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if not isinstance(cfg.get('auto_scale_lr'), dict) \
                or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError(f'--auto-scale-lr: {args.config} has no '
                             'auto_scale_lr.base_batch_size to scale from')
        cfg.auto_scale_lr.enable = True
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(loader) is None:
            continue
        if args.no_pin_memory:
            cfg[loader].pin_memory = False
        if args.no_persistent_workers:
            cfg[loader].persistent_workers = False
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    add_safety_hooks(cfg)
    for message in drop_schedulers_after_the_run(cfg):  # ScheduleFitHook reports the rest
        print_log(f'param_scheduler: {message}', logger='current', level=logging.WARNING)

    resume = args.resume
    if resume is None and cfg.get('resume', False):  # resume=True written in the config
        resume = cfg.get('load_from') or 'auto'
    plan = plan_resume(cfg.work_dir, resume)
    for message in plan.messages:
        print_log(message, logger='current',
                  level=logging.WARNING if plan.skipped else logging.INFO)
    # Before the Runner initialises the process group: the launcher's rank variables.
    rank = int(os.environ.get('RANK', os.environ.get('SLURM_PROCID', '0')))
    if plan.skipped and rank == 0:
        for path in set_aside_unreadable(plan):
            print_log(f'moved the unreadable checkpoint to {path}', logger='current',
                      level=logging.WARNING)
    cfg.resume = plan.checkpoint is not None
    if plan.checkpoint is not None:
        cfg.load_from = plan.checkpoint
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    try:
        cfg = build_config(args)
    except ResumeError as err:
        raise SystemExit(f'error: {err}') from None
    runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
