"""PETR's 3D position embedding of multi-view image features."""
from typing import Optional, Sequence, Tuple

from mmdet3d.registry import MODELS
from torch import Tensor, nn

from ..geometry import (depth_bins, frustum_points, inverse_sigmoid, lift_frustum,
                        multiview_sine_encoding, normalize_coords)


@MODELS.register_module()
class PositionEmbedding3D(nn.Module):
    """3D position embedding (PETR, Liu et al. ECCV 2022, Sec. 3.2-3.3).

    For every feature cell of every view, ``D`` frustum points ``(u d_i, v d_i, d_i)`` on the
    ray through the cell's top-left corner ``(u, v) = (16 j, 16 i)`` (official PETR; the cell
    centre with ``frustum_anchor='centre'``) are lifted to the LiDAR frame with the view's
    (augmented) ``lidar2img^-1``, normalised to ``position_range`` (unit cube), mapped through
    ``inverse_sigmoid`` and flattened to ``3 D`` channels; a 1x1-conv MLP (``3D -> 4E -> E``)
    turns them into the 3D position embedding. With ``with_multiview_sine``, PETR's sine
    encoding of (view, row, column) passed through a second MLP (``3E/2 -> 4E -> E``) is added.

    Args:
        embed_dims (int): E.
        depth_num (int): D, points per ray. Defaults to 64.
        depth_start (float): nearest depth in metres. Defaults to 1.0.
        position_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` of the
            normalisation, in the LiDAR frame; its ``x_max`` is also the farthest depth.
            Defaults to PETR's [-61.2, -61.2, -10, 61.2, 61.2, 10].
        lid (bool): linear-increasing depth bins. Defaults to True.
        with_multiview_sine (bool): add the (view, row, column) sine encoding. Defaults to True.
        frustum_anchor (str): ``'corner'`` (official PETR) or ``'centre'`` of each feature cell,
            see :func:`~s3pt_mm.det3d.geometry.frustum_points`. Defaults to ``'corner'``.
    """

    def __init__(self, embed_dims: int, depth_num: int = 64, depth_start: float = 1.0,
                 position_range: Sequence[float] = (-61.2, -61.2, -10.0, 61.2, 61.2, 10.0),
                 lid: bool = True, with_multiview_sine: bool = True,
                 frustum_anchor: str = 'corner') -> None:
        super().__init__()
        if frustum_anchor not in ('corner', 'centre'):
            raise ValueError(f"frustum_anchor must be 'corner' or 'centre', got "
                             f'{frustum_anchor!r}')
        self.frustum_anchor = frustum_anchor
        if len(position_range) != 6:
            raise ValueError(f'position_range needs 6 values, got {position_range}')
        if embed_dims % 2:
            raise ValueError(f'embed_dims must be even, got {embed_dims}')
        self.embed_dims = embed_dims
        self.position_range = tuple(float(v) for v in position_range)
        self.register_buffer(
            'depths', depth_bins(depth_num, depth_start, self.position_range[3], lid),
            persistent=False)
        self.position_encoder = nn.Sequential(
            nn.Conv2d(3 * depth_num, 4 * embed_dims, 1), nn.ReLU(inplace=True),
            nn.Conv2d(4 * embed_dims, embed_dims, 1))
        self.with_multiview_sine = with_multiview_sine
        if with_multiview_sine:
            self.adapt_sine = nn.Sequential(
                nn.Conv2d(3 * embed_dims // 2, 4 * embed_dims, 1), nn.ReLU(inplace=True),
                nn.Conv2d(4 * embed_dims, embed_dims, 1))

    def coords_3d(self, feat_hw: Tuple[int, int], img_hw: Tuple[int, int],
                  lidar2img: Tensor) -> Tensor:
        """Normalised 3D frustum points of every feature cell.

        Args:
            feat_hw (Tuple[int, int]): (H, W) of the feature map.
            img_hw (Tuple[int, int]): (H_img, W_img) of the (padded) network input.
            lidar2img (Tensor): (B, N, 4, 4).

        Returns:
            Tensor: (B, N, H, W, D, 3) coordinates in the unit cube of ``position_range``.
        """
        stride = (img_hw[0] / feat_hw[0], img_hw[1] / feat_hw[1])
        points = frustum_points(feat_hw, stride, self.depths, self.frustum_anchor)
        return normalize_coords(lift_frustum(points, lidar2img), self.position_range)

    def forward(self, feat_hw: Tuple[int, int], img_hw: Tuple[int, int],
                lidar2img: Tensor, padding_mask: Optional[Tensor] = None) -> Tensor:
        """Position embedding of every feature cell.

        Args:
            feat_hw (Tuple[int, int]): (H, W) of the feature map.
            img_hw (Tuple[int, int]): (H_img, W_img) of the (padded) network input.
            lidar2img (Tensor): (B, N, 4, 4) per-view projections.
            padding_mask (Optional[Tensor]): (B, N, H, W) bool, True on feature cells of image
                padding; only the sine encoding's counts use it (as the official PETR).
                Defaults to None.

        Returns:
            Tensor: (B, N, E, H, W).
        """
        b, n = lidar2img.shape[:2]
        h, w = feat_hw
        coords = inverse_sigmoid(self.coords_3d(feat_hw, img_hw, lidar2img))
        # (B, N, H, W, D, 3) -> (B N, 3 D, H, W), channel = 3 * depth + axis.
        coords = coords.flatten(-2).permute(0, 1, 4, 2, 3).reshape(b * n, -1, h, w)
        pos = self.position_encoder(coords)
        if self.with_multiview_sine:
            if padding_mask is None:
                sine = multiview_sine_encoding(n, feat_hw, self.embed_dims // 2).to(pos)
                pos = pos + self.adapt_sine(sine).repeat(b, 1, 1, 1)
            else:
                sine = multiview_sine_encoding(n, feat_hw, self.embed_dims // 2,
                                               padding_mask=padding_mask).to(pos)
                pos = pos + self.adapt_sine(sine.flatten(0, 1))
        return pos.view(b, n, self.embed_dims, h, w)
