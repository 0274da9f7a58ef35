"""Batch points (voxelised) and camera images for CSC pre-training (docs/csc.md §7)."""
from typing import Optional, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseDataPreprocessor

__all__ = ['CSCDataPreprocessor']


@MODELS.register_module()
class CSCDataPreprocessor(BaseDataPreprocessor):
    """Voxelise the points with a CPU-safe mmdet3d preprocessor, normalise the camera images.

    Composition rather than inheritance: ``points_preprocessor`` is any mmdet3d
    ``Det3DDataPreprocessor`` config (``CPUSafeDet3DDataPreprocessor`` with
    ``voxel_type='minkunet'`` in our configs, so that voxelisation also runs without a GPU);
    it receives the points and the data samples. The images of every sample's cameras are
    stacked into one (B * Ncam, 3, H, W) batch and normalised.

    Args:
        points_preprocessor (dict): config of the point preprocessor.
        mean (Sequence[float]): RGB mean. Defaults to ImageNet's (0-255 scale).
        std (Sequence[float]): RGB std. Defaults to ImageNet's.
    """

    def __init__(self, points_preprocessor: dict,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375)) -> None:
        super().__init__()
        self.points_preprocessor = MODELS.build(points_preprocessor)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1),
                             persistent=False)

    def forward(self, data: dict, training: bool = False) -> dict:
        """Args: data (dict): ``inputs`` with ``points`` (list of (N_i, C)) and ``cam_imgs``
        (list of (Ncam, H, W, 3) uint8), ``data_samples``.

        Returns:
            dict: ``inputs`` = the point preprocessor's (``points``, ``voxels``) plus
            ``cam_imgs`` (B * Ncam, 3, H, W) float; ``data_samples``.

        Raises:
            ValueError: if samples have different image sizes (sample index named).
        """
        inputs = dict(data['inputs'])
        cam_imgs = inputs.pop('cam_imgs', None)
        out = self.points_preprocessor(dict(inputs=inputs, data_samples=data['data_samples']),
                                       training)
        if cam_imgs is not None:
            shapes = [tuple(c.shape) for c in cam_imgs]
            if any(s[1:] != shapes[0][1:] for s in shapes):
                raise ValueError(f'camera images of a batch must share (H, W, 3), got {shapes}')
            imgs = torch.cat([torch.as_tensor(c) for c in cam_imgs]).to(self.mean.device)
            imgs = imgs.permute(0, 3, 1, 2).float()
            out['inputs']['cam_imgs'] = (imgs - self.mean) / self.std
        return out
