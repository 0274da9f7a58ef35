"""Crop geometry shared by a view's image, position map and depth map (docs/method.md §1).

A view is an axis-aligned integer crop of the original image, resized to ``out_h x out_w`` and
optionally flipped left-right *after* the resize (so a flipped view is the mirror image of the
unflipped one). Everything here is a closed-form function of that :class:`CropBox`, so image,
positions and depth can never disagree.

Pixel convention (the OpenCV / nuScenes intrinsics one, also that of
:func:`s3pt_mm.ops.project_points_to_depth`): pixel (row ``i``, column ``j``) is centred on
``(x, y) = (j, i)`` and covers ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)``, so positions are
directly comparable with projected LiDAR points ``(u, v)``. Resizing maps pixel centres onto
pixel centres (OpenCV's and Pillow's convention): output column ``j`` of a crop starting at
column ``x0`` with width ``w`` samples the original image at
``x = x0 - 0.5 + (j + 0.5) * w / out_w``.

Depth is resized by nearest neighbour: output pixel ``(i, j)`` takes the original pixel
``(floor(y_i + 0.5), floor(x_j + 0.5))`` that contains its centre, computed in integer
arithmetic. Depth is
never interpolated, so a view never holds a depth that blends a foreground and a background
surface across an edge, and every view depth is a depth of the original map.
Pure numpy: no OpenMMLab import.
"""
import math
from dataclasses import dataclass
from typing import Tuple

import numpy as np

__all__ = ['CropBox', 'sample_crop_box', 'pixel_centres', 'nearest_source_indices',
           'crop_depth_nearest', 'token_positions', 'token_depths']


@dataclass(frozen=True)
class CropBox:
    """One view's geometry in original-image pixels.

    Attributes:
        x0 (int): left column of the crop.
        y0 (int): top row of the crop.
        width (int): crop width, pixels (>= 1).
        height (int): crop height, pixels (>= 1).
        out_width (int): width after the resize.
        out_height (int): height after the resize.
        flip (bool): mirrored left-right after the resize.
    """

    x0: int
    y0: int
    width: int
    height: int
    out_width: int
    out_height: int
    flip: bool = False

    def __post_init__(self) -> None:
        if min(self.width, self.height, self.out_width, self.out_height) < 1:
            raise ValueError(f'crop and output sizes must be >= 1, got {self}')

    def as_xyxy(self) -> Tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` with exclusive ``x1 = x0 + width``, ``y1 = y0 + height``."""
        return self.x0, self.y0, self.x0 + self.width, self.y0 + self.height


def sample_crop_box(img_height: int, img_width: int, scale: Tuple[float, float],
                    ratio: Tuple[float, float] = (3 / 4, 4 / 3),
                    max_attempts: int = 10,
                    rng=np.random) -> Tuple[int, int, int, int]:
    """Draw a RandomResizedCrop box (torchvision / mmpretrain algorithm).

    Up to ``max_attempts`` times: area fraction ``s ~ U(scale)``, aspect ratio
    ``r ~ logU(ratio)``, ``w = round(sqrt(s A r))``, ``h = round(sqrt(s A / r))``; accept if it
    fits, with a uniform offset. Otherwise a central crop of the whole image clamped to
    ``ratio``.

    Args:
        img_height (int): H of the original image.
        img_width (int): W of the original image.
        scale (Tuple[float, float]): range of the crop's area fraction.
        ratio (Tuple[float, float]): range of the crop's width / height.
            Defaults to (3/4, 4/3).
        max_attempts (int): draws before the fallback. Defaults to 10.
        rng: ``numpy.random`` or a ``numpy.random.RandomState`` (``uniform``, ``randint``).
            Defaults to the global ``numpy.random`` (seeded per worker by mmengine).

    Returns:
        Tuple[int, int, int, int]: ``(x0, y0, width, height)``.
    """
    area = img_height * img_width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(max_attempts):
        target_area = rng.uniform(*scale) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= img_width and 0 < h <= img_height:
            y0 = int(rng.randint(0, img_height - h + 1))
            x0 = int(rng.randint(0, img_width - w + 1))
            return x0, y0, w, h
    in_ratio = img_width / img_height
    if in_ratio < min(ratio):
        w, h = img_width, int(round(img_width / min(ratio)))
    elif in_ratio > max(ratio):
        w, h = int(round(img_height * max(ratio))), img_height
    else:
        w, h = img_width, img_height
    return (img_width - w) // 2, (img_height - h) // 2, w, h


def pixel_centres(box: CropBox) -> Tuple[np.ndarray, np.ndarray]:
    """Original-image coordinates of the view's pixel centres (separable).

    ``x_j = x0 - 0.5 + (j + 0.5) w / out_w`` (columns reversed when flipped),
    ``y_i = y0 - 0.5 + (i + 0.5) h / out_h``; original pixel ``k`` is centred on ``k``.

    Args:
        box (CropBox): the view.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``xs`` (out_w,) and ``ys`` (out_h,) float64.
    """
    xs = box.x0 - 0.5 + (np.arange(box.out_width) + 0.5) * (box.width / box.out_width)
    ys = box.y0 - 0.5 + (np.arange(box.out_height) + 0.5) * (box.height / box.out_height)
    return (xs[::-1].copy() if box.flip else xs), ys


def nearest_source_indices(box: CropBox) -> Tuple[np.ndarray, np.ndarray]:
    """Original pixel holding each view pixel's centre: ``floor(c + 0.5)`` of
    :func:`pixel_centres`.

    Integer arithmetic, ``x0 + floor((2 j + 1) w / (2 out_w))``, so a centre that falls
    exactly on a pixel border is assigned consistently (to the right / lower pixel).

    Args:
        box (CropBox): the view.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``cols`` (out_w,) and ``rows`` (out_h,) int64, inside
        the crop.
    """
    j = np.arange(box.out_width, dtype=np.int64)
    i = np.arange(box.out_height, dtype=np.int64)
    cols = box.x0 + ((2 * j + 1) * box.width) // (2 * box.out_width)
    rows = box.y0 + ((2 * i + 1) * box.height) // (2 * box.out_height)
    return (cols[::-1].copy() if box.flip else cols), rows


def crop_depth_nearest(depth: np.ndarray, box: CropBox) -> np.ndarray:
    """Nearest-neighbour crop/resize/flip of a depth map (no blending across edges).

    Args:
        depth (np.ndarray): (H, W) depth of the original image.
        box (CropBox): the view; must lie inside the image.

    Returns:
        np.ndarray: (out_h, out_w) view depth, same dtype; every value is a pixel of ``depth``.

    Raises:
        ValueError: if the box does not lie inside ``depth``.
    """
    x0, y0, x1, y1 = box.as_xyxy()
    if x0 < 0 or y0 < 0 or x1 > depth.shape[1] or y1 > depth.shape[0]:
        raise ValueError(f'crop {box.as_xyxy()} exceeds the depth map of shape {depth.shape}')
    cols, rows = nearest_source_indices(box)
    return depth[rows[:, None], cols[None, :]]


def token_positions(box: CropBox, patch_size: int) -> np.ndarray:
    """Per-token position: the mean of the patch's pixel centres, in original-image pixels.

    Tokens in row-major patch order (a ViT's patch-token order).

    Args:
        box (CropBox): the view; ``out_h`` and ``out_w`` divisible by ``patch_size``.
        patch_size (int): p.

    Returns:
        np.ndarray: (N, 2) float32 ``(x, y)``, N = (out_h / p) (out_w / p).

    Raises:
        ValueError: if the view size is not a multiple of ``patch_size``.
    """
    _check_patch(box.out_height, box.out_width, patch_size)
    xs, ys = pixel_centres(box)
    tx = xs.reshape(-1, patch_size).mean(axis=1)
    ty = ys.reshape(-1, patch_size).mean(axis=1)
    grid_y, grid_x = np.meshgrid(ty, tx, indexing='ij')
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1).astype(np.float32)


def token_depths(view_depth: np.ndarray, patch_size: int,
                 min_depth: float = 0.1) -> Tuple[np.ndarray, np.ndarray]:
    """Per-token depth: mean of the patch's valid depth pixels (docs/method.md §1).

    ``d_t = sum_{q in t, d_q > min_depth} d_q / #{q in t : d_q > min_depth}``; a token without
    a valid pixel is invalid and carries 0.

    Args:
        view_depth (np.ndarray): (h, w) view depth in metres, h and w divisible by p.
        patch_size (int): p.
        min_depth (float): validity threshold, metres. Defaults to 0.1.

    Returns:
        Tuple[np.ndarray, np.ndarray]: depth (N,) float32 (0 where invalid) and valid (N,)
        bool, row-major patch order.

    Raises:
        ValueError: if the view size is not a multiple of ``patch_size``.
    """
    h, w = view_depth.shape
    _check_patch(h, w, patch_size)
    blocks = view_depth.reshape(h // patch_size, patch_size, w // patch_size, patch_size)
    valid = blocks > min_depth
    count = valid.sum(axis=(1, 3))
    total = np.where(valid, blocks, 0).sum(axis=(1, 3), dtype=np.float64)
    depth = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    return depth.astype(np.float32).ravel(), (count > 0).ravel()


def _check_patch(height: int, width: int, patch_size: int) -> None:
    if patch_size < 1 or height % patch_size or width % patch_size:
        raise ValueError(f'view size {height}x{width} is not a multiple of the patch size '
                         f'{patch_size}')
