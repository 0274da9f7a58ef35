"""Access to s3pt_mm's compiled operators (``s3pt_mm._ext``), the way mmcv loads its ops.

``setup.py`` compiles every source under ``s3pt_mm/ops/csrc`` into one extension module,
``s3pt_mm._ext``, when a GPU is visible or ``FORCE_CUDA=1``. Importing it registers the
operators with torch (each source does so itself with ``TORCH_LIBRARY_FRAGMENT(s3pt_mm, m)``),
and they are called as ``torch.ops.s3pt_mm.<name>``. The module is imported lazily, on the
first question asked here, so that ``import s3pt_mm`` never depends on it.

Backends use :func:`ext_available` to decide ``backend='auto'`` and :func:`get_op` for an
explicit ``backend='cuda'``, which raises :class:`ExtensionUnavailableError` saying why the
kernel cannot run (not built and how to build it, or built but no GPU visible).
"""
import importlib
from functools import lru_cache
from types import ModuleType
from typing import Callable, List, Optional, Tuple

import torch

__all__ = ['EXT_NAME', 'ExtensionUnavailableError', 'load_ext', 'has_op', 'registered_ops',
           'ext_available', 'unavailable_reason', 'get_op']

EXT_NAME = 's3pt_mm._ext'
OP_NAMESPACE = 's3pt_mm'
BUILD_HINT = ('build it with `FORCE_CUDA=1 pip install --no-build-isolation --no-deps -e .` '
              '(or `FORCE_CUDA=1 make install`) with the CUDA toolkit installed (CUDA_HOME, '
              'TORCH_CUDA_ARCH_LIST: see docs/installation.md)')


class ExtensionUnavailableError(RuntimeError):
    """A CUDA kernel was asked for (``backend='cuda'``) and cannot run here."""


@lru_cache(maxsize=None)
def _import_ext() -> Tuple[Optional[ModuleType], Optional[str]]:
    """``(module, None)``, or ``(None, why the import failed)``; imported once."""
    try:
        return importlib.import_module(EXT_NAME), None
    except (ImportError, OSError) as e:  # not built, or built against another torch / CUDA
        return None, f'{type(e).__name__}: {e}'


def load_ext() -> Optional[ModuleType]:
    """Import ``s3pt_mm._ext`` (registering its operators) and return it; None if not built.

    Returns:
        ModuleType | None: the extension module, or None when it is not built or does not
        load (see :func:`unavailable_reason`).
    """
    return _import_ext()[0]


def has_op(op_name: str, dispatch_key: Optional[str] = None) -> bool:
    """Whether ``torch.ops.s3pt_mm.<op_name>`` is registered (after loading the extension).

    Args:
        op_name (str): operator name, e.g. ``'fill_in_fast_forward'``.
        dispatch_key (str, optional): also require a kernel for this key (``'CUDA'``,
            ``'CPU'``). Defaults to None (any kernel).

    Returns:
        bool: True when registered.
    """
    if load_ext() is None:
        return False
    qualified = f'{OP_NAMESPACE}::{op_name}'
    if dispatch_key is None:
        return torch._C._dispatch_has_kernel(qualified)  # False for an unknown name
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(qualified, dispatch_key)
    except RuntimeError:  # "operator ... does not exist"
        return False


def registered_ops() -> List[str]:
    """Names of every ``torch.ops.s3pt_mm`` operator registered so far (sorted)."""
    load_ext()
    prefix = f'{OP_NAMESPACE}::'
    return sorted({name[len(prefix):].split('.')[0]
                   for name in torch._C._dispatch_get_all_op_names() if name.startswith(prefix)})


def unavailable_reason(op_name: str) -> Optional[str]:
    """Why the CUDA kernel ``op_name`` cannot run here, or None when it can.

    Args:
        op_name (str): operator name.

    Returns:
        str | None: a sentence a person can act on, or None.
    """
    _, error = _import_ext()
    if error is not None:
        return f'the CUDA extension {EXT_NAME} is not built ({error}); {BUILD_HINT}'
    if not has_op(op_name, 'CUDA'):
        return (f'{EXT_NAME} has no CUDA kernel for {OP_NAMESPACE}::{op_name} (built from '
                f'older sources?); rebuild it: {BUILD_HINT}')
    if not torch.cuda.is_available():
        return (f'{EXT_NAME} is built but no CUDA device is visible '
                '(torch.cuda.is_available() is False); run on a GPU or use the torch backend')
    return None


def ext_available(op_name: Optional[str] = None) -> bool:
    """Whether compiled CUDA kernels can run here (what ``backend='auto'`` asks).

    Args:
        op_name (str, optional): a specific operator; None asks only whether the extension
            loads and a GPU is visible. Defaults to None.

    Returns:
        bool: False when the extension is not built, lacks ``op_name``'s CUDA kernel, or no
        GPU is visible.
    """
    if load_ext() is None or not torch.cuda.is_available():
        return False
    return op_name is None or has_op(op_name, 'CUDA')


def get_op(op_name: str) -> Callable:
    """``torch.ops.s3pt_mm.<op_name>`` for an explicit ``backend='cuda'``.

    Args:
        op_name (str): operator name.

    Returns:
        Callable: the operator.

    Raises:
        ExtensionUnavailableError: when its CUDA kernel cannot run here; the message says
            why (not built, and how to build it; built without this operator; no GPU).
    """
    reason = unavailable_reason(op_name)
    if reason is not None:
        raise ExtensionUnavailableError(f"backend='cuda' ({op_name}): {reason}")
    return getattr(getattr(torch.ops, OP_NAMESPACE), op_name)
