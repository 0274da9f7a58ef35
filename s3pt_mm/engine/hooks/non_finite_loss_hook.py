"""Stop training at the first non-finite loss, before a checkpoint can record it."""
import math
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; training was stopped."""


def non_finite_terms(outputs: Optional[Dict]) -> Dict[str, float]:
    """The loss terms of a ``train_step`` output that are not finite.

    Args:
        outputs (dict, optional): ``log_vars`` of ``model.train_step``: name -> scalar
            (tensor or number). Only names containing ``'loss'`` are losses (mmengine's
            ``parse_losses`` sums exactly those); other logged statistics are ignored.

    Returns:
        dict: ``{name: value}`` of every non-finite loss term, in the order logged.
    """
    bad = {}
    for name, value in (outputs or {}).items():
        if 'loss' not in name:
            continue
        if isinstance(value, torch.Tensor):
            finite = bool(torch.isfinite(value.detach()).all())
            number = float(value.detach().float().mean()) if value.numel() else float('nan')
        else:
            number = float(value)
            finite = math.isfinite(number)
        if not finite:
            bad[name] = number
    return bad


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` at the first iteration whose loss is NaN or inf.

    DINO stops the same way (``if not math.isfinite(loss.item()): sys.exit(1)``); here the error
    names the iteration, the epoch and every non-finite loss term. It runs before every other
    ``after_train_iter`` hook (priority VERY_HIGH) and so before ``CheckpointHook``: no
    checkpoint is written after the bad step, and ``last_checkpoint`` keeps naming the last
    good one, from which ``tools/train.py --resume`` continues. On several processes the
    ranks agree (one all-reduce of a flag) so that all of them stop together instead of the
    others waiting for the stopped one.

    Args:
        check_interval (int): check every this many iterations. Defaults to 1.
    """

    priority = 'VERY_HIGH'

    def __init__(self, check_interval: int = 1) -> None:
        if check_interval < 1:
            raise ValueError(f'check_interval must be >= 1, got {check_interval}')
        self.check_interval = check_interval

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self.every_n_train_iters(runner, self.check_interval):
            return
        bad = non_finite_terms(outputs)
        rank, world_size = get_dist_info()
        if world_size > 1:
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag)
            if flag.item() == 0:
                return
        elif not bad:
            return
        if len(bad) > 1:  # name the culprits, not also their sum
            bad.pop('loss', None)
        terms = ', '.join(f'{name}={value}' for name, value in bad.items())
        if not terms:
            terms = 'on another rank'
        last = runner.message_hub.get_info('last_ckpt')
        where = (f'last_checkpoint still names {last}' if last else
                 'no checkpoint had been written yet')
        raise NonFiniteLossError(
            f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, batch '
            f'{batch_idx + 1}) on rank {rank}: {terms}. Training stopped before any checkpoint '
            f'of this state was written; {where}. Lower the learning rate or enable gradient '
            'clipping (optim_wrapper.clip_grad), then continue with tools/train.py --resume.')
