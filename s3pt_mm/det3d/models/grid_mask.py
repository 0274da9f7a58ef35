"""GridMask (Chen et al., 2020) on batched image tensors, on any device."""
from typing import Optional, Tuple

import torch
from mmdet3d.registry import MODELS
from torch import Tensor, nn


def _check_unit_and_width(unit: int, keep_width: int) -> None:
    """Raise ValueError unless ``unit >= 2`` and ``1 <= keep_width <= unit - 1``."""
    if unit < 2 or not 1 <= keep_width <= unit - 1:
        raise ValueError(f'need unit >= 2 and 1 <= keep_width <= unit - 1, got {unit}, '
                         f'{keep_width}')


def grid_keep_mask(hw: Tuple[int, int], unit: int, keep_width: int, offset_yx: Tuple[int, int],
                   device: Optional[torch.device] = None) -> Tensor:
    """The boolean keep-mask of one GridMask draw.

    The image is tiled by ``unit x unit`` cells shifted by ``offset_yx``; in every cell a stripe
    ``keep_width`` rows tall and one ``keep_width`` columns wide are kept and the remaining
    ``(unit - keep_width)^2`` square is dropped:
    ``keep(y, x) = ((y + o_y) mod d < l) or ((x + o_x) mod d < l)``. The kept fraction is
    ``1 - (1 - l / d)^2`` (75 % for PETR's ratio 0.5).

    Args:
        hw (Tuple[int, int]): (H, W).
        unit (int): d, the cell size in pixels (>= 2).
        keep_width (int): l, in [1, d - 1].
        offset_yx (Tuple[int, int]): (o_y, o_x) in [0, d).
        device (Optional[torch.device]): device of the mask. Defaults to None (CPU).

    Returns:
        Tensor: (H, W) bool, True = keep.

    Raises:
        ValueError: if ``unit < 2`` or ``keep_width`` is not in [1, unit - 1].
    """
    _check_unit_and_width(unit, keep_width)
    rows = (torch.arange(hw[0], device=device) + offset_yx[0]) % unit < keep_width
    cols = (torch.arange(hw[1], device=device) + offset_yx[1]) % unit < keep_width
    return rows[:, None] | cols[None, :]


def official_grid_keep_mask(hw: Tuple[int, int], unit: int, keep_width: int,
                            start_yx: Tuple[int, int],
                            device: Optional[torch.device] = None) -> Tensor:
    """The keep-mask of one GridMask draw with the official PETR's border rule.

    The official code draws the stripes on a canvas ``int(1.5 H) x int(1.5 W)`` starting at
    ``start`` (``floor(canvas / d)`` stripes per axis, none before ``start``) and crops the
    centre ``H x W`` window. In image coordinates, with ``Y = y + (int(1.5 H) - H) // 2``, row
    ``y`` is a kept stripe iff ``Y >= s_y``, ``(Y - s_y) // d < int(1.5 H) // d`` and
    ``(Y - s_y) mod d < l`` (columns alike); a pixel is kept iff its row or its column is.
    Compared with :func:`grid_keep_mask` this drops the partial stripes near the image borders
    that the canvas does not cover.

    Args:
        hw (Tuple[int, int]): (H, W).
        unit (int): d (>= 2).
        keep_width (int): l, in [1, d - 1].
        start_yx (Tuple[int, int]): (s_y, s_x), the first stripe on the canvas, in [0, d).
        device (Optional[torch.device]): Defaults to None (CPU).

    Returns:
        Tensor: (H, W) bool, True = keep.

    Raises:
        ValueError: if ``unit < 2`` or ``keep_width`` is not in [1, unit - 1].
    """
    _check_unit_and_width(unit, keep_width)

    def stripes(size: int, start: int) -> Tensor:
        canvas = int(1.5 * size)
        pos = torch.arange(size, device=device) + (canvas - size) // 2 - start
        return (pos >= 0) & (torch.div(pos, unit, rounding_mode='floor') < canvas // unit) & (
            pos % unit < keep_width)

    return stripes(hw[0], start_yx[0])[:, None] | stripes(hw[1], start_yx[1])[None, :]


@MODELS.register_module()
class GridMask(nn.Module):
    """Drop a grid of squares from training images (PETR's image-level augmentation).

    Applied in training only. By default as the official PETR: with probability ``prob`` per
    batch, ONE mask is drawn and applied to every image of the batch (all views of all
    samples); ``per_batch=False`` draws a coin and a mask per image instead. The cell size
    ``d`` is drawn uniformly from ``[min_unit, max_unit]`` (``max_unit`` defaults to the image
    height - 1, the official ``randint(2, h)``), ``l = min(max(int(ratio d + 0.5), 1), d - 1)``
    and the stripe start uniformly in ``[0, d)^2``; ``border='official'`` uses
    :func:`official_grid_keep_mask`, ``'periodic'`` the border-free :func:`grid_keep_mask`.
    Dropped pixels are set to 0 (the mean colour after normalisation). Geometry is untouched,
    so ``lidar2img`` needs no update. Plain torch, so it runs on CPU as well as GPU.

    Args:
        ratio (float): kept stripe width relative to the cell, l / d. Defaults to 0.5.
        prob (float): probability of masking. Defaults to 0.7.
        min_unit (int): smallest cell size. Defaults to 2.
        max_unit (Optional[int]): largest cell size; None = image height - 1. Defaults to None.
        per_batch (bool): one draw for the whole batch (official). Defaults to True.
        border (str): ``'official'`` or ``'periodic'``. Defaults to ``'official'``.
    """

    def __init__(self, ratio: float = 0.5, prob: float = 0.7, min_unit: int = 2,
                 max_unit: Optional[int] = None, per_batch: bool = True,
                 border: str = 'official') -> None:
        super().__init__()
        if not 0 < ratio < 1 or not 0 <= prob <= 1 or min_unit < 2:
            raise ValueError(f'need 0 < ratio < 1, 0 <= prob <= 1, min_unit >= 2; got {ratio}, '
                             f'{prob}, {min_unit}')
        if border not in ('official', 'periodic'):
            raise ValueError(f"border must be 'official' or 'periodic', got {border!r}")
        self.ratio = ratio
        self.prob = prob
        self.min_unit = min_unit
        self.max_unit = max_unit
        self.per_batch = per_batch
        self.border = border

    def draw(self, hw: Tuple[int, int], device: Optional[torch.device] = None) -> Tensor:
        """One random (H, W) bool keep-mask (the coin of ``prob`` is not included)."""
        h, w = hw
        max_unit = self.max_unit if self.max_unit is not None else h - 1
        max_unit = max(max_unit, self.min_unit)
        unit = int(torch.randint(self.min_unit, max_unit + 1, ()))
        keep_width = min(max(int(self.ratio * unit + 0.5), 1), unit - 1)
        start = tuple(int(v) for v in torch.randint(0, unit, (2, )))
        fn = official_grid_keep_mask if self.border == 'official' else grid_keep_mask
        return fn((h, w), unit, keep_width, start, device)

    def forward(self, imgs: Tensor) -> Tensor:
        """Mask a batch of images.

        Args:
            imgs (Tensor): (M, C, H, W).

        Returns:
            Tensor: (M, C, H, W); the input itself in eval mode.
        """
        if not self.training or self.prob == 0:
            return imgs
        m, _, h, w = imgs.shape
        if self.per_batch:
            if float(torch.rand(())) > self.prob:
                return imgs
            return imgs * self.draw((h, w), imgs.device).to(imgs.dtype)
        masks = torch.ones(m, 1, h, w, dtype=imgs.dtype, device=imgs.device)
        for i in range(m):
            if float(torch.rand(())) > self.prob:
                continue
            masks[i, 0] = self.draw((h, w), imgs.device)
        return imgs * masks
