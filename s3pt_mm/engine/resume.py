"""Choosing what a training run resumes from, without ever losing a checkpoint.

Used by ``tools/train.py`` (docs/resuming.md):

- :func:`find_checkpoints` lists a work dir's ``epoch_N.pth`` / ``iter_N.pth`` newest first;
- :func:`checkpoint_problem` says why a file is not a complete, loadable Runner checkpoint
  (missing, empty, truncated, failing its CRC check, not unpicklable, not a Runner checkpoint);
- :func:`plan_resume` decides, for ``--resume [auto|auto-or-fresh|PATH]`` or a fresh start,
  which checkpoint to resume from, which unreadable ones were skipped, or raises
  :class:`ResumeError` naming the work dir: nothing to resume from, a fresh run over an
  earlier run's checkpoints, or a resume that would overwrite newer checkpoints.
"""
import os
import os.path as osp
import re
import zipfile
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import torch

#: The names mmengine's CheckpointHook gives to checkpoints (``filename_tmpl`` defaults).
CHECKPOINT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')
#: Suffix given to an unreadable checkpoint set aside before a resumed run rewrites its name.
UNREADABLE_SUFFIX = '.unreadable'


class ResumeError(RuntimeError):
    """Resuming (or starting) in this work dir would lose work or cannot continue."""


def _step(path: str) -> Tuple[str, int]:
    match = CHECKPOINT_NAME.match(osp.basename(path))
    return (match.group(1), int(match.group(2))) if match else ('', -1)


def last_checkpoint_target(work_dir: str) -> Optional[str]:
    """The path written in ``work_dir/last_checkpoint``, or None if absent or empty."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        target = f.read().strip()
    return target or None


def find_checkpoints(work_dir: str) -> List[str]:
    """Every checkpoint of ``work_dir``, newest first.

    The files named ``epoch_N.pth`` / ``iter_N.pth`` in ``work_dir`` plus the file named by
    ``last_checkpoint`` (if it exists), ordered by N, then by modification time.

    Args:
        work_dir (str): a training work dir (need not exist).

    Returns:
        list of str: paths, newest first; empty when there are none.
    """
    paths = set()
    if osp.isdir(work_dir):
        paths = {osp.join(work_dir, name) for name in os.listdir(work_dir)
                 if CHECKPOINT_NAME.match(name) and osp.isfile(osp.join(work_dir, name))}
    target = last_checkpoint_target(work_dir)
    if target is not None and osp.isfile(target):
        paths.add(osp.normpath(target))
    paths = {osp.normpath(p) for p in paths}
    return sorted(paths, key=lambda p: (_step(p)[1], osp.getmtime(p)), reverse=True)


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete Runner checkpoint, or None when it is one.

    Checks, cheapest first: the file exists and is not empty; it is a zip archive (torch's
    format; a file cut short by a kill has no central directory); every member passes its
    CRC check (this reads the whole file); it unpickles with the safe loader (``mmap``, so
    tensors are not read again); it holds ``meta`` and ``state_dict``.

    Args:
        path (str): the file.

    Returns:
        str or None: a short reason, e.g. ``'truncated or not a torch checkpoint ...'``.
    """
    if not osp.isfile(path):
        return 'the file does not exist'
    if osp.getsize(path) == 0:
        return 'the file is empty'
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f'truncated or not a torch checkpoint (zip archive unreadable: {err})'
    if bad is not None:
        return f'corrupt: archive member {bad!r} fails its CRC check'
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True, mmap=True)
    except Exception as err:  # any unpickling failure means "cannot resume from it"
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ''
        return f'torch.load fails ({type(err).__name__}: {reason[:200]})'
    if not isinstance(checkpoint, dict) or not {'meta', 'state_dict'} <= set(checkpoint):
        return 'not a training checkpoint (no meta / state_dict)'
    return None


def read_meta(path: str) -> dict:
    """``checkpoint['meta']`` of a loadable checkpoint (memory-mapped, tensors not read)."""
    return torch.load(path, map_location='cpu', weights_only=True, mmap=True).get('meta', {})


@dataclass
class ResumePlan:
    """What ``tools/train.py`` does in a work dir.

    Attributes:
        checkpoint (str or None): the checkpoint to resume from; None for a fresh run.
        skipped (list): ``(path, reason)`` of newer checkpoints that cannot be loaded.
        messages (list): what to tell the user (one sentence each).
    """

    checkpoint: Optional[str] = None
    skipped: List[Tuple[str, str]] = field(default_factory=list)
    messages: List[str] = field(default_factory=list)


def plan_resume(work_dir: str, resume: Optional[str]) -> ResumePlan:
    """Decide what a run in ``work_dir`` resumes from.

    Args:
        work_dir (str): the run's work dir.
        resume (str or None): None (fresh run), ``'auto'`` (the newest loadable checkpoint
            of ``work_dir``; an error if there is none), ``'auto-or-fresh'`` (the same, but a
            fresh run when ``work_dir`` holds no checkpoint at all) or a checkpoint path.

    Returns:
        ResumePlan: the checkpoint (or None for a fresh run) and what was skipped.

    Raises:
        ResumeError: a fresh run in a work dir that holds checkpoints (they would be
            overwritten); ``'auto'`` with nothing to resume from; checkpoints that all fail to
            load; an explicit path that cannot be loaded, or whose resumed run would overwrite
            newer checkpoints in ``work_dir``.
    """
    work_dir_abs = osp.abspath(work_dir)
    existing = find_checkpoints(work_dir)
    if resume is None:
        if existing or last_checkpoint_target(work_dir) is not None:
            names = ', '.join(osp.basename(p) for p in existing[:5]) or 'last_checkpoint'
            raise ResumeError(
                f'work dir {work_dir_abs} already holds checkpoints of an earlier run '
                f'({names}); a new run would overwrite them. Continue that run with --resume, '
                'or start the new one in another --work-dir.')
        return ResumePlan()
    if resume in ('auto', 'auto-or-fresh'):
        plan = ResumePlan()
        for path in existing:
            problem = checkpoint_problem(path)
            if problem is None:
                plan.checkpoint = path
                break
            plan.skipped.append((path, problem))
        for path, problem in plan.skipped:
            plan.messages.append(f'cannot resume from {path}: {problem}')
        if plan.checkpoint is not None:
            if plan.skipped:
                plan.messages.append(f'resuming from {plan.checkpoint} instead, the newest '
                                     'checkpoint that loads')
            return plan
        if plan.skipped:
            raise ResumeError(
                f'none of the {len(plan.skipped)} checkpoints in {work_dir_abs} can be loaded '
                f'(newest: {plan.messages[0]}); refusing to start a new run over them. Move '
                'them away or pick another --work-dir.')
        if resume == 'auto-or-fresh':
            plan.messages.append(f'no checkpoint in {work_dir_abs}: starting a new run')
            return plan
        raise ResumeError(
            f'--resume: nothing to resume from in work dir {work_dir_abs} (no last_checkpoint, '
            'no epoch_*.pth or iter_*.pth). Check --work-dir, or use --resume auto-or-fresh to '
            'start a new run when there is nothing to resume.')
    problem = checkpoint_problem(resume)
    if problem is not None:
        raise ResumeError(f'--resume {resume}: cannot resume from it: {problem}')
    meta = read_meta(resume)
    done = dict(epoch=int(meta.get('epoch', 0)), iter=int(meta.get('iter', 0)))
    resumed = osp.realpath(resume)
    newer = [p for p in existing
             if osp.dirname(osp.realpath(p)) == osp.realpath(work_dir)
             and osp.realpath(p) != resumed and _step(p)[0]
             and _step(p)[1] > done[_step(p)[0]]]
    if newer:
        raise ResumeError(
            f'--resume {resume} (epoch {done["epoch"]}, iteration {done["iter"]}) into work dir '
            f'{work_dir_abs} would overwrite its newer checkpoints '
            f'({", ".join(osp.basename(p) for p in newer)}). Resume the newest with --resume, '
            'or continue from this one in another --work-dir.')
    return ResumePlan(checkpoint=resume)


def set_aside_unreadable(plan: ResumePlan) -> List[str]:
    """Rename the skipped unreadable checkpoints to ``<name>.unreadable`` (never delete).

    The resumed run writes those names again; keeping the damaged files aside leaves them
    for inspection and out of the next resume's candidates. Call on one process only.

    Returns:
        list of str: the new paths.
    """
    moved = []
    for path, _ in plan.skipped:
        if not osp.isfile(path):
            continue
        target, count = path + UNREADABLE_SUFFIX, 1
        while osp.exists(target):
            target, count = f'{path}{UNREADABLE_SUFFIX}.{count}', count + 1
        try:
            os.replace(path, target)
        except FileNotFoundError:  # another process moved it first
            continue
        moved.append(target)
    return moved
