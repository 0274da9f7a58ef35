"""Small helpers for hooks."""
from mmengine.model import is_model_wrapper
from torch import nn


def get_ori_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP/FSDP wrapper (or the model itself when not wrapped)."""
    return model.module if is_model_wrapper(model) else model


def is_resuming(runner) -> bool:
    """Whether ``runner`` resumes training (``resume=True``) rather than only loading weights.

    A Runner built from a config has it in ``runner.cfg``; one built from keyword arguments
    keeps it only in mmengine's private ``_resume``.
    """
    return bool(runner.cfg.get('resume', False) or getattr(runner, '_resume', False))


def resume_source(runner) -> str:
    """The checkpoint a resuming runner loads, for messages (``'the latest checkpoint'`` when
    mmengine looks it up itself)."""
    return (runner.cfg.get('load_from') or getattr(runner, '_load_from', None) or
            'the latest checkpoint')
