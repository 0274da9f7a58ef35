"""Warn loudly when the parameter schedules do not fit the run's length."""
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..schedule_fit import schedule_problems


def _flatten(schedulers) -> list:
    if schedulers is None:
        return []
    if isinstance(schedulers, dict):
        return [s for group in schedulers.values() for s in group]
    return list(schedulers)


@HOOKS.register_module()
class ScheduleFitHook(Hook):
    """Check the built parameter schedulers against ``max_epochs`` / ``max_iters``.

    Runs once before training (after a resume too). Problems (a scheduler that never starts,
    is cut off, has a ``T_max`` other than its span, or a parameter whose last schedule ends
    before the run does; :func:`~s3pt_mm.engine.schedule_fit.schedule_problems`) are logged as
    one warning, or raised with ``strict=True``.

    Args:
        strict (bool): raise ``ValueError`` instead of warning. Defaults to False.
    """

    priority = 'VERY_LOW'

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        max_epochs = getattr(loop, 'max_epochs', 0) if hasattr(loop, 'max_epochs') else 0
        problems = schedule_problems(_flatten(runner.param_schedulers), max_epochs,
                                     runner.max_iters)
        if not problems:
            return
        message = ('The parameter schedules do not fit this run '
                   f'(max_epochs={max_epochs}, max_iters={runner.max_iters}):\n  - ' +
                   '\n  - '.join(problems) +
                   '\nLeave `end`/`T_max` of the last phase unset so that it ends with the run, '
                   'or set them for this length (docs/resuming.md, "Schedules").')
        if self.strict:
            raise ValueError(message)
        runner.logger.warning('!' * 80 + '\n' + message + '\n' + '!' * 80)
