"""Check that the parameter schedules fit the length of the run.

mmengine's schedulers take absolute ``begin``/``end``/``T_max``. When a run is shortened or
lengthened (``--cfg-options train_cfg.max_epochs=50``) schedules written for the config's
length silently stop early or are cut off (a cosine meant for 500 epochs leaves the learning
rate at 9e-4 instead of 1e-5 after 50). The configs under ``configs/_base_/schedules`` leave
``end`` and ``T_max`` of their final phases unset, so mmengine ends them at ``max_epochs``
and they scale with it; :func:`schedule_problems` finds what still does not fit.
"""
from typing import Iterable, List

#: mmengine's "no end" value (``mmengine.optim.scheduler.param_scheduler.INF``).
_INF = int(1e9)


def _param_name(scheduler) -> str:
    return getattr(scheduler, 'param_name', '?')


def schedule_problems(schedulers: Iterable, max_epochs: int, max_iters: int) -> List[str]:
    """Sentences describing every way the built schedulers do not fit the run.

    Args:
        schedulers: built mmengine ``_ParamScheduler`` objects (``runner.param_schedulers``,
            flattened). Epoch-based ones are measured in epochs, converted ones
            (``convert_to_iter_based``) and iteration-based ones in iterations.
        max_epochs (int): the run's epochs (0 or None for an iteration-based loop).
        max_iters (int): the run's iterations.

    Returns:
        list of str: empty when every scheduler starts inside the run, ends at or before its
        end, has a ``T_max`` equal to its span, and every scheduled parameter's last scheduler
        ends with the run.
    """
    problems = []
    last_end = {}
    for scheduler in schedulers:
        by_epoch = bool(getattr(scheduler, 'by_epoch', False))
        unit, total = ('epoch', max_epochs) if by_epoch else ('iteration', max_iters)
        if not total:
            continue
        name, param = type(scheduler).__name__, _param_name(scheduler)
        begin, end = int(scheduler.begin), int(scheduler.end)
        if begin >= total:
            problems.append(f'{name} ({param}) starts at {unit} {begin}, but the run has '
                            f'{total} {unit}s: it never runs')
            continue
        if end != _INF and end > total:
            share = 100 * (total - begin) / (end - begin)
            problems.append(f'{name} ({param}) runs over {unit}s {begin}-{end}, but the run '
                            f'has {total}: it is cut off {share:.0f} % of the way')
        t_max = getattr(scheduler, 'T_max', None)
        if t_max is not None and end != _INF and t_max != end - begin:
            problems.append(f'{name} ({param}) has T_max={t_max} {unit}s but spans '
                            f'{end - begin}: its curve does not end where the scheduler does')
        key = (param, unit)
        last_end[key] = max(last_end.get(key, 0), min(end, total))
    for (param, unit), end in last_end.items():
        total = max_epochs if unit == 'epoch' else max_iters
        if end < total:
            problems.append(f'the schedules of {param} end at {unit} {end} of {total}: {param} '
                            f'stays constant for the last {total - end} {unit}s')
    return problems


def drop_schedulers_after_the_run(cfg) -> List[str]:
    """Remove from ``cfg.param_scheduler`` the schedulers that start after the run ends.

    With ``end`` unset, mmengine sets ``end = max_epochs``; a phase that begins at or after
    the run's end (the cosine after a 10-epoch warm-up in a 5-epoch run) then fails to build
    with "end should be larger than begin". Such a phase would never run anyway; it is removed
    and the removal reported (the caller logs it loudly).

    Args:
        cfg (Config): a full training config (``train_cfg``, ``param_scheduler``).

    Returns:
        list of str: one sentence per removed scheduler.
    """
    train_cfg = cfg.get('train_cfg') or {}
    max_epochs, max_iters = train_cfg.get('max_epochs'), train_cfg.get('max_iters')
    schedulers = cfg.get('param_scheduler')
    if schedulers is None:
        return []
    groups = schedulers if isinstance(schedulers, dict) else {None: schedulers}
    removed = []
    for name, group in groups.items():
        if isinstance(group, dict):
            group = [group]
        kept = []
        for scheduler in group:
            by_epoch = scheduler.get('by_epoch', True) if isinstance(scheduler, dict) else None
            total = max_epochs if by_epoch else max_iters
            if by_epoch is None or total is None or scheduler.get('begin', 0) < total:
                kept.append(scheduler)
                continue
            unit = 'epoch' if by_epoch else 'iteration'
            removed.append(f"{scheduler['type']} starts at {unit} {scheduler['begin']}, but the "
                           f'run has {total} {unit}s: removed (it would never run)')
        if name is None:
            cfg.param_scheduler = kept
        else:
            cfg.param_scheduler[name] = kept
    return removed
