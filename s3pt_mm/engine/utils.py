"""Small helpers for hooks."""
from mmengine.model import is_model_wrapper
from torch import nn


def get_ori_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP/FSDP wrapper (or the model itself when not wrapped)."""
    return model.module if is_model_wrapper(model) else model
