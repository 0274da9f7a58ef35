"""PETR's box parameterisation (the regression targets of the head).

A box in the LiDAR frame is ``(x, y, z, l, w, h, yaw, vx, vy)`` with ``(x, y, z)`` its gravity
centre (mmdet3d's ``LiDARInstance3DBoxes.gravity_center``), ``(l, w, h)`` its size along its
own x, y, z axes and ``yaw`` its heading. The head regresses the 10-vector

    ``code = (x, y, log l, log w, z, log h, sin yaw, cos yaw, vx, vy)``

(PETR / DETR3D order: the centre lives at indices 0, 1, 4 so the reference-point refinement can
add to them; logs keep sizes positive; sin/cos avoid the 2 pi wrap-around).
"""
import torch
from torch import Tensor

#: Indices of (x, y, z) in the code.
CENTER_INDICES = (0, 1, 4)
CODE_SIZE = 10


def encode_boxes(boxes: Tensor) -> Tensor:
    """Boxes (gravity centre, size, yaw[, velocity]) -> regression codes.

    Args:
        boxes (Tensor): (M, 7) or (M, 9) ``(x, y, z, l, w, h, yaw[, vx, vy])``, sizes > 0.

    Returns:
        Tensor: (M, 8) or (M, 10) codes (see the module docstring).

    Raises:
        ValueError: if the last dimension is neither 7 nor 9.
    """
    if boxes.shape[-1] not in (7, 9):
        raise ValueError(f'boxes must have 7 or 9 values per box, got shape {tuple(boxes.shape)}')
    x, y, z, l, w, h, yaw = boxes[..., :7].unbind(-1)
    parts = [x, y, l.log(), w.log(), z, h.log(), yaw.sin(), yaw.cos()]
    code = torch.stack(parts, dim=-1)
    if boxes.shape[-1] == 9:
        code = torch.cat([code, boxes[..., 7:9]], dim=-1)
    return code


def decode_boxes(codes: Tensor) -> Tensor:
    """Regression codes -> boxes; inverse of :func:`encode_boxes`.

    ``yaw = atan2(sin, cos)`` so un-normalised (sin, cos) predictions are fine.

    Args:
        codes (Tensor): (..., 8) or (..., 10) codes.

    Returns:
        Tensor: (..., 7) or (..., 9) ``(x, y, z, l, w, h, yaw[, vx, vy])``.

    Raises:
        ValueError: if the last dimension is neither 8 nor 10.
    """
    if codes.shape[-1] not in (8, 10):
        raise ValueError(f'codes must have 8 or 10 values, got shape {tuple(codes.shape)}')
    x, y, log_l, log_w, z, log_h, sin, cos = codes[..., :8].unbind(-1)
    boxes = torch.stack([x, y, z, log_l.exp(), log_w.exp(), log_h.exp(), torch.atan2(sin, cos)],
                        dim=-1)
    if codes.shape[-1] == 10:
        boxes = torch.cat([boxes, codes[..., 8:10]], dim=-1)
    return boxes
