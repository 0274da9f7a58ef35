"""Epoch switch of CSC: set the epoch and rebuild prototypes before every L_pro epoch."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet3d.registry import HOOKS

__all__ = ['CSCPrototypeHook']


@HOOKS.register_module()
class CSCPrototypeHook(Hook):
    """Before each training epoch: ``model.set_epoch(epoch)``; when the epoch uses L_pro
    (``epoch >= start_epoch``), rebuild the prototypes by a no-grad pass over the training
    dataloader (the reference rebuilds them once per epoch; docs/csc.md §4)."""

    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.set_epoch(runner.epoch)
        if model.criterion.needs_prototypes:
            model.build_prototypes(runner.train_dataloader)
