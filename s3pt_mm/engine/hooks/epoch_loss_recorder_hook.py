"""Keeps the per-epoch mean of every training loss term (for `make demo` and quick checks)."""
from collections import defaultdict
from typing import Dict, List, Sequence

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class EpochLossRecorderHook(Hook):
    """Records, for each training epoch, the mean of every ``loss*`` entry of the outputs.

    Args:
        extra_keys (Sequence[str]): other logged values to average per epoch as well, e.g.
            ``('teacher_entropy',)`` to tell a falling loss from a collapsing teacher.
            Defaults to ``()``.

    Attributes:
        epoch_losses (List[Dict[str, float]]): one ``{name: mean}`` per finished epoch
            (``'loss'`` is the summed loss mmengine logs), extra keys included.
    """

    def __init__(self, extra_keys: Sequence[str] = ()) -> None:
        self.extra_keys = tuple(extra_keys)
        self.epoch_losses: List[Dict[str, float]] = []
        self._sums: Dict[str, float] = defaultdict(float)
        self._counts: Dict[str, int] = defaultdict(int)

    def before_train_epoch(self, runner) -> None:
        self._sums.clear()
        self._counts.clear()

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        for name, value in (outputs or {}).items():
            if name.startswith('loss') or name in self.extra_keys:
                self._sums[name] += float(value)
                self._counts[name] += 1

    def after_train_epoch(self, runner) -> None:
        if self._counts:
            self.epoch_losses.append(
                {name: self._sums[name] / self._counts[name] for name in self._sums})

    @staticmethod
    def common_total(first: Dict[str, float], last: Dict[str, float]) -> tuple:
        """Sum of the loss terms (``loss_*``) present in both epochs: comparable totals."""
        names = sorted(k for k in first if k.startswith('loss_') and k in last)
        return sum(first[k] for k in names), sum(last[k] for k in names), names
