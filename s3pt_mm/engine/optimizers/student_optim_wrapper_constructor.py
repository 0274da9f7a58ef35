"""Optimizer construction for self-distillation models with an EMA teacher."""
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn

from ..utils import get_ori_model


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StudentOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """:class:`DefaultOptimWrapperConstructor` over the student only.

    The EMA teacher (``model.teacher``) is never trained; leaving it out keeps its frozen
    parameters out of the parameter groups (and out of mmengine's per-parameter warnings).
    Parameter names, and so ``paramwise_cfg`` keys, are unchanged (``backbone.*``, ``head.*``).
    """

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = get_ori_model(model)
        student = nn.ModuleDict(
            {name: child for name, child in model.named_children() if name != 'teacher'})
        return super().__call__(student)
