"""Camera geometry of PETR: image augmentation matrices, frustum lifting, position encodings.

Pure numpy / torch functions (no OpenMMLab import). Conventions:

* Pixel coordinates follow OpenCV / the nuScenes intrinsics: pixel ``(row i, column j)`` has its
  centre at ``(u, v) = (j, i)``; an image of width ``W`` spans ``u`` in ``[-0.5, W - 0.5]``.
* A 4x4 projection ``lidar2img`` maps homogeneous LiDAR points ``(x, y, z, 1)`` to
  ``(u d, v d, d, 1)`` with ``d`` the camera depth, i.e. ``lidar2img = cam2img_4x4 @ lidar2cam``.
* Image augmentations act on pixels by a 3x3 affine map ``A``; on ``(u d, v d, d)`` the same
  matrix applies (the affine translation scales with ``d``), so the augmented projection is
  ``img_aug_4x4 @ lidar2img`` with ``img_aug_4x4 = blockdiag(A, 1)``.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor


def image_aug_matrix(scale_xy: Tuple[float, float], crop_xy: Tuple[int, int], flip: bool,
                     out_width: int) -> np.ndarray:
    """The 4x4 matrix that moves pixels through resize -> crop -> horizontal flip.

    With pixel centres at integer coordinates (see the module docstring):

    * resize by ``(sx, sy)`` (``cv2.resize`` aligns pixel *edges*): ``u1 = sx (u + 0.5) - 0.5``;
    * crop with top-left corner ``(cx, cy)``: ``u2 = u1 - cx``;
    * horizontal flip of an image ``out_width`` wide: ``u3 = out_width - 1 - u2``.

    Args:
        scale_xy (Tuple[float, float]): ``(new_width / width, new_height / height)``.
        crop_xy (Tuple[int, int]): top-left corner of the crop in the resized image; negative or
            out-of-image crops are zero padded.
        flip (bool): whether the cropped image is mirrored left-right.
        out_width (int): width of the cropped (output) image.

    Returns:
        np.ndarray: (4, 4) float64 ``blockdiag(A, 1)`` acting on ``(u d, v d, d, 1)``.
    """
    sx, sy = scale_xy
    cx, cy = crop_xy
    aff = np.array([[sx, 0.0, 0.5 * (sx - 1.0) - cx],
                    [0.0, sy, 0.5 * (sy - 1.0) - cy],
                    [0.0, 0.0, 1.0]])
    if flip:
        aff = np.array([[-1.0, 0.0, out_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ aff
    mat = np.eye(4)
    mat[:3, :3] = aff
    return mat


def to_homogeneous_4x4(mat: np.ndarray) -> np.ndarray:
    """Embed a (3, 3) intrinsic matrix (or pass through a (4, 4) one) into a 4x4 matrix.

    Args:
        mat (np.ndarray): (3, 3) or (4, 4).

    Returns:
        np.ndarray: (4, 4) float64.

    Raises:
        ValueError: for any other shape.
    """
    mat = np.asarray(mat, dtype=np.float64)
    if mat.shape == (4, 4):
        return mat.copy()
    if mat.shape != (3, 3):
        raise ValueError(f'expected a (3, 3) or (4, 4) matrix, got shape {mat.shape}')
    out = np.eye(4)
    out[:3, :3] = mat
    return out


def depth_bins(num_bins: int, depth_start: float, depth_max: float, lid: bool = True) -> Tensor:
    """Depths of PETR's frustum points along every camera ray.

    Linear-increasing discretisation (LID, PETR Sec. 3.2 following CaDDN):
    ``d_i = d_0 + (d_max - d_0) * i (i + 1) / (D (D + 1))`` for ``i = 0 .. D-1``, so the bins
    get wider with depth; uniform otherwise: ``d_i = d_0 + (d_max - d_0) * i / D``.

    Args:
        num_bins (int): D.
        depth_start (float): d_0 (> 0).
        depth_max (float): d_max.
        lid (bool): linear-increasing instead of uniform spacing. Defaults to True.

    Returns:
        Tensor: (D,) float32 depths, increasing.

    Raises:
        ValueError: if ``num_bins < 1`` or ``0 < depth_start < depth_max`` does not hold.
    """
    if num_bins < 1 or not 0 < depth_start < depth_max:
        raise ValueError(f'need num_bins >= 1 and 0 < depth_start < depth_max, got '
                         f'{num_bins}, {depth_start}, {depth_max}')
    i = torch.arange(num_bins, dtype=torch.float64)
    if lid:
        frac = i * (i + 1) / (num_bins * (num_bins + 1))
    else:
        frac = i / num_bins
    return (depth_start + (depth_max - depth_start) * frac).float()


def frustum_points(feat_hw: Tuple[int, int], stride_hw: Tuple[float, float],
                   depths: Tensor, anchor: str = 'corner') -> Tensor:
    """Homogeneous image-space points ``(u d, v d, d, 1)`` of every feature cell.

    Feature cell ``(i, j)`` of a map with stride ``(s_h, s_w)`` covers the pixels
    ``[j s_w, (j + 1) s_w)``. ``anchor='corner'`` (the official PETR) samples the ray through
    ``(u, v) = (j s_w, i s_h)``; ``anchor='centre'`` the ray through the cell's centre
    ``u = (j + 0.5) s_w - 0.5`` (pixel centres are at integers). The two are half a cell
    (~8 px at stride 16) apart.

    Args:
        feat_hw (Tuple[int, int]): (H, W) of the feature map.
        stride_hw (Tuple[float, float]): image pixels per feature cell, (s_h, s_w).
        depths (Tensor): (D,) depths.
        anchor (str): ``'corner'`` or ``'centre'``. Defaults to ``'corner'``.

    Returns:
        Tensor: (H, W, D, 4) points, dtype and device of ``depths``.

    Raises:
        ValueError: for an unknown ``anchor``.
    """
    if anchor not in ('corner', 'centre'):
        raise ValueError(f"anchor must be 'corner' or 'centre', got {anchor!r}")
    h, w = feat_hw
    kw = dict(dtype=depths.dtype, device=depths.device)
    shift = 0.5 if anchor == 'centre' else 0.0
    v = (torch.arange(h, **kw) + shift) * stride_hw[0] - shift
    u = (torch.arange(w, **kw) + shift) * stride_hw[1] - shift
    vv, uu, dd = torch.meshgrid(v, u, depths, indexing='ij')  # each (H, W, D)
    return torch.stack([uu * dd, vv * dd, dd, torch.ones_like(dd)], dim=-1)


def lift_frustum(points: Tensor, lidar2img: Tensor) -> Tensor:
    """Lift image-space frustum points to 3D LiDAR coordinates with ``lidar2img^-1``.

    PETR Eq. (1): ``p_3d = K^-1 p_m`` with ``K`` the view's (augmented) ``lidar2img``. The
    inverse is taken in float64 because nuScenes' translations (metres) and focal lengths (~1e3
    pixels) make float32 inverses lose centimetres.

    Args:
        points (Tensor): (H, W, D, 4) from :func:`frustum_points`.
        lidar2img (Tensor): (..., 4, 4) projection of each view, e.g. (B, N, 4, 4).

    Returns:
        Tensor: (..., H, W, D, 3) LiDAR-frame points, dtype of ``points``.
    """
    img2lidar = torch.linalg.inv(lidar2img.double())
    batch = img2lidar.shape[:-2]
    flat = img2lidar.reshape(-1, 1, 1, 1, 4, 4)
    xyz = (flat @ points.double().unsqueeze(-1)).squeeze(-1)[..., :3]
    return xyz.reshape(*batch, *points.shape[:3], 3).to(points.dtype)


def project_points(xyz: Tensor, lidar2img: Tensor) -> Tuple[Tensor, Tensor]:
    """Project LiDAR-frame points to pixels: ``(u d, v d, d) = lidar2img (x, y, z, 1)``.

    Args:
        xyz (Tensor): (..., 3) points.
        lidar2img (Tensor): (4, 4) projection.

    Returns:
        Tuple[Tensor, Tensor]: (..., 2) pixel coordinates ``(u, v)`` and (...,) depths ``d``.
    """
    homo = torch.cat([xyz, torch.ones_like(xyz[..., :1])], dim=-1)
    out = homo @ lidar2img.to(xyz.dtype).T
    depth = out[..., 2]
    return out[..., :2] / depth.unsqueeze(-1), depth


def normalize_coords(xyz: Tensor, position_range: Sequence[float]) -> Tensor:
    """Map points into the unit cube of the detection range.

    ``x_n = (x - x_min) / (x_max - x_min)`` per axis; points outside the range fall outside
    ``[0, 1]``.

    Args:
        xyz (Tensor): (..., 3) points.
        position_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]``.

    Returns:
        Tensor: (..., 3) normalised coordinates.
    """
    rng = torch.as_tensor(position_range, dtype=xyz.dtype, device=xyz.device)
    return (xyz - rng[:3]) / (rng[3:] - rng[:3])


def denormalize_coords(xyz_n: Tensor, position_range: Sequence[float]) -> Tensor:
    """Inverse of :func:`normalize_coords`.

    Args:
        xyz_n (Tensor): (..., 3) normalised coordinates.
        position_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]``.

    Returns:
        Tensor: (..., 3) metric coordinates.
    """
    rng = torch.as_tensor(position_range, dtype=xyz_n.dtype, device=xyz_n.device)
    return xyz_n * (rng[3:] - rng[:3]) + rng[:3]


def inverse_sigmoid(x: Tensor, eps: float = 1e-5) -> Tensor:
    """``log(x / (1 - x))`` with numerator and denominator clamped to at least ``eps`` (``x``
    first clamped to [0, 1]), so it stays finite: saturates at ``+-log(1 / eps)`` exactly
    (mmdet's form, used by the official PETR; clamping ``x`` to ``1 - eps`` instead would
    round in float32 and move saturated values by ~1e-3).

    Args:
        x (Tensor): values in [0, 1] (anything outside is clamped).
        eps (float): clamp margin. Defaults to 1e-5.

    Returns:
        Tensor: logits, same shape as ``x``.
    """
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def sine_embedding(pos: Tensor, num_feats: int, temperature: float = 10000.0) -> Tensor:
    """Transformer sine/cosine embedding of each coordinate of ``pos`` (DETR, PETR's queries).

    For coordinate ``p`` scaled to ``2 pi p`` and ``k = 0 .. num_feats/2 - 1``:
    ``[sin(2 pi p / T^(2k / F)), cos(2 pi p / T^(2k / F))]`` interleaved, ``F = num_feats``;
    the per-coordinate embeddings are concatenated in reverse order (last coordinate first),
    as DETR does for (y, x).

    Args:
        pos (Tensor): (..., K) coordinates, normally in [0, 1].
        num_feats (int): F, channels per coordinate (even).
        temperature (float): T. Defaults to 10000.

    Returns:
        Tensor: (..., K * F) embedding.

    Raises:
        ValueError: if ``num_feats`` is odd.
    """
    if num_feats % 2:
        raise ValueError(f'num_feats must be even, got {num_feats}')
    k = torch.arange(num_feats, dtype=torch.float32, device=pos.device)
    dim_t = temperature ** (2 * torch.div(k, 2, rounding_mode='floor') / num_feats)
    scaled = pos.float().unsqueeze(-1) * (2 * torch.pi) / dim_t  # (..., K, F)
    emb = torch.stack([scaled[..., 0::2].sin(), scaled[..., 1::2].cos()], dim=-1).flatten(-2)
    return emb.flip(-2).flatten(-2)


def multiview_sine_encoding(num_views: int, feat_hw: Tuple[int, int], num_feats: int,
                            temperature: float = 10000.0,
                            padding_mask: Optional[Tensor] = None) -> Tensor:
    """PETR's 3D sine encoding of (view index, row, column) of every feature cell.

    Each index is the cumulative count of valid cells along its axis (view, row or column),
    normalised by the count at the end of that axis: ``c / (c_last + 1e-6)`` (DETR's
    ``normalize=True`` form, as the official PETR's ``SinePositionalEncoding3D``); without
    padding this is ``(idx + 1) / (count + 1e-6)``. The three are embedded with
    :func:`sine_embedding` and concatenated as (view, row, column).

    Args:
        num_views (int): N.
        feat_hw (Tuple[int, int]): (H, W).
        num_feats (int): channels per index (even).
        temperature (float): Defaults to 10000.
        padding_mask (Optional[Tensor]): (B, N, H, W) bool, True on padded cells. Defaults to
            None (no padding).

    Returns:
        Tensor: (N, 3 * num_feats, H, W) without a mask, (B, N, 3 * num_feats, H, W) with one.
    """
    h, w = feat_hw
    if padding_mask is None:
        valid = torch.ones(1, num_views, h, w)
    else:
        valid = (~padding_mask.bool()).float()
    n_cum, y_cum, x_cum = (valid.cumsum(dim) for dim in (1, 2, 3))
    pos = torch.stack([x_cum / (x_cum[..., -1:] + 1e-6), y_cum / (y_cum[..., -1:, :] + 1e-6),
                       n_cum / (n_cum[:, -1:] + 1e-6)], dim=-1)
    # sine_embedding reverses the coordinate order: (x, y, n) -> [n | y | x].
    enc = sine_embedding(pos, num_feats, temperature).permute(0, 1, 4, 2, 3).contiguous()
    return enc[0] if padding_mask is None else enc
