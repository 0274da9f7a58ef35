"""A sparse voxel backbone that is never trained (linear probing, docs/csc.md §8)."""
import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

__all__ = ['FrozenVoxelBackbone']


@MODELS.register_module()
class FrozenVoxelBackbone(BaseModule):
    """Wrap a voxel backbone (e.g. ``MinkUNetBackbone``): no gradients, always eval mode.

    Its state-dict keys are ``backbone.<wrapped keys>``, so a converted checkpoint is loaded
    with ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix='backbone.')`` on the
    *wrapped* config.

    Args:
        backbone (dict): config of the wrapped backbone.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, backbone: dict, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()

    def train(self, mode: bool = True) -> 'FrozenVoxelBackbone':
        """The wrapper follows ``mode``; the wrapped backbone stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, voxel_features: Tensor, coors: Tensor) -> Tensor:
        """Args: voxel_features (M, C_in), coors (M, 4). Returns: (M, C_out) features."""
        with torch.no_grad():
            return self.backbone(voxel_features, coors)
