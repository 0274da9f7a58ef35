"""Per-epoch schedules of S3PT/CrIBo/DINO that are not optimizer parameters."""
from typing import Optional

import numpy as np
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

from ..utils import get_ori_model


def warmup_then_constant(start: float, end: float, warmup_epochs: int, epoch: int) -> float:
    """DINO's teacher-temperature schedule: ``linspace(start, end, warmup)`` then ``end``."""
    if epoch >= warmup_epochs:
        return float(end)
    return float(np.linspace(start, end, warmup_epochs)[epoch])


def linspace_schedule(endpoints, max_epochs: int, epoch: int) -> float:
    """CrIBo's α schedule: ``linspace(α[1], α[0], max_epochs)[epoch]`` (docs/method.md §5)."""
    first, last = float(endpoints[1]), float(endpoints[0])
    return float(np.linspace(first, last, max_epochs)[min(epoch, max_epochs - 1)])


@HOOKS.register_module()
class S3PTScheduleHook(Hook):
    """Sets, before every epoch, the values that S3PT schedules by epoch (docs/method.md §5–§7).

    - teacher temperature of the CLS and object outputs: warm-up from ``warmup_teacher_temp``
      to ``teacher_temp`` over ``teacher_temp_warmup_epochs``, then constant;
    - the assigner's α_pos and α_depth: ``linspace(α[1], α[0], max_epochs)[epoch]`` from the
      endpoints the assigner was configured with;
    - the last layers frozen during the first ``freeze_last_layer_epochs`` epochs (their
      gradients are dropped right before every optimizer step, after clipping);
    - the cross-image loss enabled from ``cross_image_start_epoch`` on.

    All values are recomputed from ``runner.epoch``, so a resumed run gets exactly the values an
    uninterrupted run would have. Modules are reached through their public setters only.

    Args:
        teacher_temp (float): final teacher temperature. Defaults to 0.07.
        warmup_teacher_temp (float): initial teacher temperature. Defaults to 0.04.
        teacher_temp_warmup_epochs (int): epochs of the warm-up (30 ViT-S, 50 ViT-B).
            Defaults to 30.
        freeze_last_layer_epochs (int): Defaults to 1.
        cross_image_start_epoch (int): Defaults to 1.
        object_teacher_temp (float, optional): final temperature of the object output; same as
            ``teacher_temp`` when None ("object head likewise", docs/method.md §7).
    """

    priority = 'NORMAL'

    def __init__(self,
                 teacher_temp: float = 0.07,
                 warmup_teacher_temp: float = 0.04,
                 teacher_temp_warmup_epochs: int = 30,
                 freeze_last_layer_epochs: int = 1,
                 cross_image_start_epoch: int = 1,
                 object_teacher_temp: Optional[float] = None) -> None:
        if teacher_temp_warmup_epochs < 1:
            raise ValueError('teacher_temp_warmup_epochs must be >= 1, got '
                             f'{teacher_temp_warmup_epochs}')
        self.teacher_temp = teacher_temp
        self.warmup_teacher_temp = warmup_teacher_temp
        self.teacher_temp_warmup_epochs = teacher_temp_warmup_epochs
        self.freeze_last_layer_epochs = freeze_last_layer_epochs
        self.cross_image_start_epoch = cross_image_start_epoch
        self.object_teacher_temp = object_teacher_temp
        self._hooked_optimizer = None

    def values(self, epoch: int, max_epochs: int, model) -> dict:
        """The scheduled values for ``epoch`` (also used by tests and the logger)."""
        temp = warmup_then_constant(self.warmup_teacher_temp, self.teacher_temp,
                                    self.teacher_temp_warmup_epochs, epoch)
        values = dict(teacher_temp=temp,
                      freeze_last_layer=epoch < self.freeze_last_layer_epochs,
                      cross_image_enabled=epoch >= self.cross_image_start_epoch)
        if self.object_teacher_temp is not None:
            values['object_teacher_temp'] = warmup_then_constant(
                self.warmup_teacher_temp, self.object_teacher_temp,
                self.teacher_temp_warmup_epochs, epoch)
        assigner = getattr(model, 'assigner', None)
        if assigner is not None:
            values['alpha_pos'] = linspace_schedule(assigner.alpha_pos_endpoints, max_epochs, epoch)
            values['alpha_depth'] = linspace_schedule(assigner.alpha_depth_endpoints, max_epochs,
                                                      epoch)
        return values

    def fit_problems(self, max_epochs: int) -> list:
        """The epoch counts of this hook that do not fit a run of ``max_epochs`` epochs.

        The teacher-temperature warm-up, the frozen last layer and the cross-image start are
        absolute epoch counts (as in DINO and the paper's Tab. 3); α follows ``max_epochs`` and
        always fits.
        """
        problems = []
        if self.teacher_temp_warmup_epochs > max_epochs:
            reached = warmup_then_constant(self.warmup_teacher_temp, self.teacher_temp,
                                           self.teacher_temp_warmup_epochs, max_epochs - 1)
            problems.append(f'teacher_temp_warmup_epochs={self.teacher_temp_warmup_epochs} > '
                            f'max_epochs={max_epochs}: the teacher temperature ends at '
                            f'{reached:.4g} instead of {self.teacher_temp}')
        if self.freeze_last_layer_epochs >= max_epochs:
            problems.append(f'freeze_last_layer_epochs={self.freeze_last_layer_epochs} >= '
                            f'max_epochs={max_epochs}: the last layer is never trained')
        if self.cross_image_start_epoch >= max_epochs:
            problems.append(f'cross_image_start_epoch={self.cross_image_start_epoch} >= '
                            f'max_epochs={max_epochs}: the cross-image loss never runs')
        return problems

    def before_train(self, runner) -> None:
        problems = self.fit_problems(runner.max_epochs)
        if problems:
            runner.logger.warning('!' * 80 + '\nS3PTScheduleHook does not fit this run:\n  - ' +
                                  '\n  - '.join(problems) + '\n' + '!' * 80)
        head = get_ori_model(runner.model).head
        optimizer = runner.optim_wrapper.optimizer
        if self._hooked_optimizer is not optimizer:
            # After backward and clipping, right before the step (DINO's cancel_gradients).
            optimizer.register_step_pre_hook(lambda *_: head.cancel_last_layer_grad())
            self._hooked_optimizer = optimizer

    def before_train_epoch(self, runner) -> None:
        model = get_ori_model(runner.model)
        values = self.values(runner.epoch, runner.max_epochs, model)
        model.head.set_teacher_temp(values['teacher_temp'])
        if 'object_teacher_temp' in values and model.assigner is not None:
            model.head.set_teacher_temp(values['object_teacher_temp'], 'object')
        model.head.freeze_last_layer(values['freeze_last_layer'])
        if hasattr(model, 'set_cross_image_enabled'):
            model.set_cross_image_enabled(values['cross_image_enabled'])
        if getattr(model, 'assigner', None) is not None:
            model.assigner.set_alpha_pos(values['alpha_pos'])
            model.assigner.set_alpha_depth(values['alpha_depth'])
        self._values = values

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for name, value in self._values.items():
            runner.message_hub.update_scalar(f'train/{name}', float(value))
