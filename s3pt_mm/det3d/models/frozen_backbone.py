"""A backbone that is never trained: no gradients, always in eval mode."""
from typing import Optional, Tuple

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor


@MODELS.register_module()
class FrozenBackbone(BaseModule):
    """Wrap any registered backbone and freeze it (S3PT's downstream protocol, docs/method.md §8).

    Every parameter gets ``requires_grad=False`` and the wrapped module stays in eval mode even
    when the detector calls ``train()`` (so dropout / drop-path are off and normalisation
    statistics cannot move); the forward runs under ``torch.no_grad()`` so no activations are
    kept for a backward pass. Weights are loaded by the wrapped backbone's own ``init_cfg``
    (e.g. ``dict(type='Pretrained', checkpoint=..., prefix='teacher.module.backbone.')``), so
    its state-dict keys are exactly the pre-training model's.

    Args:
        backbone (dict): config of the wrapped backbone, e.g.
            ``dict(type='mmpretrain.VisionTransformer', arch='deit-small', out_type='featmap')``.
        init_cfg (Optional[dict]): Defaults to None.
    """

    def __init__(self, backbone: dict, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        for param in self.backbone.parameters():
            param.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> 'FrozenBackbone':
        """Set the wrapper's mode; the wrapped backbone stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, imgs: Tensor) -> Tuple[Tensor, ...]:
        """Run the frozen backbone.

        Args:
            imgs (Tensor): (M, C, H, W).

        Returns:
            Tuple[Tensor, ...]: the wrapped backbone's outputs, detached.
        """
        with torch.no_grad():
            out = self.backbone(imgs)
        return tuple(out) if isinstance(out, (list, tuple)) else (out, )
