"""Side-by-side pictures of segmentation results (pure numpy)."""
from typing import Optional, Sequence

import numpy as np


def colorize_labels(labels: np.ndarray, palette: Sequence[Sequence[int]],
                    unknown_color: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    """Colour a label map.

    Args:
        labels (np.ndarray): (H, W) integer class ids.
        palette (Sequence[Sequence[int]]): (K, 3) RGB colour of class k.
        unknown_color (Sequence[int]): RGB for ids outside [0, K) (e.g. 255 = ignored).
            Defaults to black.

    Returns:
        np.ndarray: (H, W, 3) uint8 RGB.
    """
    table = np.tile(np.asarray(unknown_color, dtype=np.uint8), (256, 1))
    colors = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    table[:len(colors)] = colors
    return table[np.clip(np.asarray(labels), 0, 255).astype(np.uint8)]


def comparison_panel(image: np.ndarray, pred: np.ndarray, gt: Optional[np.ndarray],
                     palette: Sequence[Sequence[int]],
                     pred_palette: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """``image | prediction | ground truth`` in one picture.

    Args:
        image (np.ndarray): (H, W, 3) uint8 RGB.
        pred (np.ndarray): (H, W) predicted ids.
        gt (np.ndarray, optional): (H, W) label ids (255 = ignored, drawn black); None leaves
            the third panel out.
        palette (Sequence[Sequence[int]]): (K, 3) RGB colours of the label ids.
        pred_palette (Sequence[Sequence[int]], optional): colours of the predicted ids when the
            model's classes differ from the labels' (DG). Defaults to ``palette``.

    Returns:
        np.ndarray: (H, 3W, 3) (or (H, 2W, 3) without ``gt``) uint8 RGB.

    Raises:
        ValueError: if the maps and the image differ in size.
    """
    h, w = image.shape[:2]
    maps = [pred] + ([gt] if gt is not None else [])
    if any(m.shape != (h, w) for m in maps):
        raise ValueError(f'image {image.shape[:2]}, prediction {pred.shape} and ground truth '
                         f'{None if gt is None else gt.shape} must have the same size')
    panels = [image.astype(np.uint8),
              colorize_labels(pred, pred_palette if pred_palette is not None else palette)]
    if gt is not None:
        panels.append(colorize_labels(gt, palette))
    return np.concatenate(panels, axis=1)
