"""MMPB: the multi-modal prototype blender of CSC (docs/csc.md §5)."""
import torch
from torch import Tensor, nn

__all__ = ['MultiModalPrototypeBlender']


class MultiModalPrototypeBlender(nn.Module):
    """Mix the 3D and 2D prototypes of each class into one, ``MLP([p3d_t, p2d_t])``.

    The reference (``predictor_slot``, a DINO head) is ``Linear(2C, H) - BN - GELU -
    Linear(H, H) - BN - GELU - Linear(H, C)`` over the concatenation *point first, pixel
    second*, weights truncated-normal (std 0.02), biases 0.

    Args:
        channels (int): C, prototype dimension. Defaults to 64.
        hidden (int): H. Defaults to 128 (the reference's ``dim_hidden``).
        num_layers (int): Linear layers, >= 1. Defaults to 3.
    """

    def __init__(self, channels: int = 64, hidden: int = 128, num_layers: int = 3) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        dims = [2 * channels] + [hidden] * (num_layers - 1) + [channels]
        layers = []
        for i in range(num_layers):
            layers.append(nn.Linear(dims[i], dims[i + 1]))
            if i < num_layers - 1:
                layers += [nn.BatchNorm1d(dims[i + 1]), nn.GELU()]
        self.mlp = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, point_prototypes: Tensor, pixel_prototypes: Tensor) -> Tensor:
        """Args: point_prototypes, pixel_prototypes (T, C). Returns: (T, C) mixed prototypes."""
        if point_prototypes.shape != pixel_prototypes.shape:
            raise ValueError(f'prototype shapes differ: {tuple(point_prototypes.shape)} vs '
                             f'{tuple(pixel_prototypes.shape)}')
        return self.mlp(torch.cat([point_prototypes, pixel_prototypes], dim=1))
