"""Refuse to resume from a checkpoint written for another model or optimizer."""
import re
from typing import Dict, List, Mapping

import torch
from mmengine.hooks import Hook
from mmengine.optim import OptimWrapperDict
from mmengine.registry import HOOKS

from ..utils import get_ori_model, is_resuming, resume_source


class CheckpointMismatchError(ValueError):
    """The checkpoint's model or optimizer does not match the one the config builds."""


def _shape(value) -> tuple:
    return tuple(value.shape) if hasattr(value, 'shape') else ()


def _examples(names: List[str], limit: int = 4) -> str:
    shown = ', '.join(names[:limit])
    return shown + (f', ... ({len(names)} in all)' if len(names) > limit else '')


def model_mismatches(model_state: Mapping[str, torch.Tensor],
                     checkpoint_state: Mapping[str, torch.Tensor]) -> List[str]:
    """What differs between a model's ``state_dict`` and a checkpoint's ``state_dict``.

    Args:
        model_state: the model's ``state_dict()`` (the model inside any DDP wrapper).
        checkpoint_state: ``checkpoint['state_dict']`` (a leading ``module.`` is ignored).

    Returns:
        list of str: one sentence per kind of difference (keys only in the model, only in the
        checkpoint, shapes that differ); empty when they match.
    """
    ckpt = {re.sub(r'^module\.', '', k): v for k, v in checkpoint_state.items()}
    missing = [k for k in model_state if k not in ckpt]
    unexpected = [k for k in ckpt if k not in model_state]
    reshaped = [f'{k}: checkpoint {_shape(ckpt[k])} vs model {_shape(v)}'
                for k, v in model_state.items() if k in ckpt and _shape(ckpt[k]) != _shape(v)]
    problems = []
    if missing:
        problems.append(f'{len(missing)} model entries are not in the checkpoint '
                        f'({_examples(missing)})')
    if unexpected:
        problems.append(f'{len(unexpected)} checkpoint entries are not in the model '
                        f'({_examples(unexpected)})')
    if reshaped:
        problems.append(f'{len(reshaped)} entries differ in shape ({_examples(reshaped)})')
    return problems


def optimizer_mismatches(optimizer: torch.optim.Optimizer, state: Mapping) -> List[str]:
    """What differs between an optimizer and an optimizer ``state_dict`` from a checkpoint.

    Compares the number of parameter groups, the number of parameters per group and, for
    every parameter, the shapes of its per-parameter state tensors (Adam's ``exp_avg``, SGD's
    ``momentum_buffer``, ...) with the parameter's shape. These are what make
    ``load_state_dict`` fail or, worse, succeed and crash later inside ``step``.

    Args:
        optimizer: the optimizer the config builds.
        state: the checkpoint's ``optimizer`` entry (``state_dict()`` of an ``OptimWrapper``).

    Returns:
        list of str: one sentence per difference found; empty when they match.
    """
    groups, saved_groups = optimizer.param_groups, state.get('param_groups', [])
    if len(groups) != len(saved_groups):
        return [f'the checkpoint has {len(saved_groups)} parameter groups, the config\'s '
                f'optimizer {len(groups)}']
    problems = []
    for index, (group, saved) in enumerate(zip(groups, saved_groups)):
        if len(group['params']) != len(saved['params']):
            problems.append(f'parameter group {index} has {len(saved["params"])} parameters '
                            f'in the checkpoint, {len(group["params"])} in the config\'s '
                            'optimizer')
            continue
        saved_state = state.get('state', {})
        for position, (param, param_id) in enumerate(zip(group['params'], saved['params'])):
            for key, value in saved_state.get(param_id, {}).items():
                if torch.is_tensor(value) and value.dim() > 0 and value.shape != param.shape:
                    problems.append(f'group {index} parameter {position}: optimizer state '
                                    f'{key!r} has shape {tuple(value.shape)}, the parameter '
                                    f'{tuple(param.shape)}')
                    break
        if len(problems) >= 4:
            break
    return problems


@HOOKS.register_module()
class CheckpointCompatibilityHook(Hook):
    """Record what a checkpoint was written for, and check it before resuming from it.

    Saving adds ``meta['model_type']`` (the model's class, e.g. ``S3PT``, ``DINO``) and
    ``meta['optimizer_type']`` to every checkpoint. Resuming (``resume=True``) raises
    :class:`CheckpointMismatchError` before any weight or optimizer state is loaded when

    - the recorded model or optimizer class differs from the config's (resuming a DINO run
      under an S3PT config);
    - the model's ``state_dict`` keys or shapes differ from the checkpoint's (another
      architecture, head size, number of prototypes ...);
    - the optimizer's parameter groups, their sizes or the per-parameter state shapes differ
      (mmengine would load them and fail inside ``Adam.step``).

    Loading weights for fine-tuning (``load_from`` without resume) is not checked: there a
    partial match is the point.
    """

    priority = 'VERY_HIGH'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.setdefault('meta', {})
        meta['model_type'] = type(get_ori_model(runner.model)).__name__
        meta['optimizer_type'] = _optimizer_types(runner.optim_wrapper)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not is_resuming(runner):
            return
        source = resume_source(runner)
        model = get_ori_model(runner.model)
        meta = checkpoint.get('meta', {})
        problems = []
        if meta.get('model_type') not in (None, type(model).__name__):
            problems.append(f'it was written by a {meta["model_type"]} model, the config '
                            f'builds {type(model).__name__}')
        problems += model_mismatches(model.state_dict(), checkpoint.get('state_dict', {}))
        wrapper = runner.optim_wrapper
        saved_optimizer = checkpoint.get('optimizer')
        if saved_optimizer is not None and hasattr(wrapper, 'optimizer'):
            current = _optimizer_types(wrapper)
            if meta.get('optimizer_type') not in (None, current):
                problems.append(f'its optimizer is {meta["optimizer_type"]}, the config\'s '
                                f'{current}')
            elif not isinstance(wrapper, OptimWrapperDict):
                problems += optimizer_mismatches(wrapper.optimizer, saved_optimizer)
        if problems:
            raise CheckpointMismatchError(
                f'cannot resume from {source}: it does not match this config: ' +
                '; '.join(problems) + '. Resume it with the config it was trained with (its '
                "meta['cfg'] holds it), or start a new run in another --work-dir (load_from "
                'loads weights without resuming).')


def _optimizer_types(wrapper) -> str:
    if isinstance(wrapper, OptimWrapperDict):
        types: Dict[str, str] = {k: type(v.optimizer).__name__ for k, v in wrapper.items()}
        return ','.join(f'{k}:{v}' for k, v in types.items())
    return type(wrapper.optimizer).__name__
