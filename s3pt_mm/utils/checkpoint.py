"""Checkpoint loading under PyTorch >= 2.6, done deliberately.

PyTorch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine 0.10.7 calls
``torch.load`` without ``weights_only``, and the checkpoints its own ``Runner`` writes carry
numpy scalars/arrays and mmengine ``HistoryBuffer`` objects in ``meta['message_hub']``, so a
plain save -> resume fails with ``UnpicklingError``.

We keep the safe loader and allow-list exactly the types those checkpoints contain
(:func:`register_checkpoint_safe_globals`, called on ``import s3pt_mm``). Loading arbitrary
pickled objects stays an explicit, opt-in decision: :func:`load_trusted_checkpoint`.
"""
from __future__ import annotations

import copyreg
import os
from typing import Any

import numpy as np
import torch


def _numpy_safe_globals() -> list:
    """The numpy callables and classes that pickled numpy scalars and arrays reference."""
    # Pickled numpy scalars carry their raw value as ``bytes``.
    items: list = [np.ndarray, np.dtype, bytes]
    # numpy 1.x keeps these in numpy.core.multiarray, numpy 2.x in numpy._core.multiarray.
    try:
        from numpy.core import multiarray
    except ImportError:  # pragma: no cover - numpy >= 2 only
        from numpy._core import multiarray  # type: ignore[no-redef]
    items += [multiarray._reconstruct, multiarray.scalar]
    # One dtype class per scalar type (np.dtypes exists from numpy 1.25 on).
    dtypes_mod = getattr(np, 'dtypes', None)
    if dtypes_mod is not None:
        items += [getattr(dtypes_mod, name) for name in dir(dtypes_mod) if name.endswith('DType')]
    return items


def _reduce_history_buffer(buffer):
    """Pickle a ``HistoryBuffer`` without its statistics functions.

    mmengine's ``HistoryBuffer.__getstate__`` pickles its class-level statistics methods
    (``getattr(HistoryBuffer, 'min')``, ...), and ``getattr`` is rightly not allowed by the safe
    loader. Those methods are registered again whenever ``HistoryBuffer`` (or the module of a
    custom statistic) is imported, so the checkpoint only needs the logged values.
    """
    state = {k: v for k, v in vars(buffer).items() if k != 'statistics_methods'}
    return copyreg.__newobj__, (type(buffer), ), state


def _mmengine_safe_globals() -> list:
    try:
        from mmengine.logging import HistoryBuffer
    except ImportError:  # pragma: no cover - mmengine is a hard dependency in practice
        return []
    copyreg.pickle(HistoryBuffer, _reduce_history_buffer)
    return [HistoryBuffer]


_REGISTERED = False


def register_checkpoint_safe_globals() -> None:
    """Allow-list the numpy and mmengine types that mmengine checkpoints contain.

    Also registers a pickling rule that writes mmengine ``HistoryBuffer`` objects without
    function references, so checkpoints saved from now on hold nothing the safe loader refuses.
    Checkpoints written by plain mmengine elsewhere still reference ``getattr``: load those
    with :func:`load_trusted_checkpoint` (or re-save them) if you trust them.

    After it, ``torch.load(path)`` (``weights_only=True``) reads checkpoints written by
    ``mmengine.runner.Runner`` and by s3pt_mm, and still refuses any other pickled object.
    Idempotent.
    """
    global _REGISTERED
    if _REGISTERED:
        return
    torch.serialization.add_safe_globals(_numpy_safe_globals() + _mmengine_safe_globals())
    _REGISTERED = True


def load_trusted_checkpoint(path: str | os.PathLike, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint with full unpickling, for files you trust.

    Only use this for checkpoints you produced or otherwise trust: unpickling can run
    arbitrary code. Everything s3pt_mm and mmengine write loads with the safe default.

    Args:
        path: The checkpoint file.
        map_location: Passed to :func:`torch.load`. Defaults to ``'cpu'``.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: If ``path`` does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    return torch.load(path, map_location=map_location, weights_only=False)
