"""mmdet3d's ``Det3DDataPreprocessor`` with a MinkUNet voxelisation that also runs on CPU."""
from typing import List

import numpy as np
import torch
import torch.nn.functional as F
from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor


@MODELS.register_module()
class CPUSafeDet3DDataPreprocessor(Det3DDataPreprocessor):
    """``Det3DDataPreprocessor`` whose ``voxel_type='minkunet'`` branch keeps the points' device.

    mmdet3d 1.4.0 moves the MinkUNet voxel indices with ``.cuda()``, so MinkUNet (and any
    model using that voxelisation) cannot run a forward pass without a GPU. This class does the
    same computation on the device of the points: voxel coordinates ``round(xyz / voxel_size)``
    shifted to start at 0, unique voxels by mmdet3d's own ``sparse_quantize`` (first point of
    each voxel, point -> voxel map), random subsampling to ``max_voxels`` in training, the
    batch index padded first or last. CUDA points take mmdet3d's code unchanged; the other
    voxel types are mmdet3d's too. Same arguments as ``Det3DDataPreprocessor``.
    """

    def voxelize(self, points: List[Tensor], data_samples: SampleList) -> dict:
        """Voxelise a batch of point clouds (see mmdet3d's ``Det3DDataPreprocessor``).

        Args:
            points (List[Tensor]): per sample (N_i, C) points.
            data_samples (SampleList): per sample data samples; ``point2voxel_map``,
                ``batch_idx`` (and ``gt_pts_seg.voxel_semantic_mask`` when the sample has a
                ``pts_semantic_mask``) are added for ``voxel_type='minkunet'``.

        Returns:
            dict: ``voxels`` (M, C) and ``coors`` (M, 4) for 'minkunet' (plus what the other
            voxel types return).
        """
        if self.voxel_type != 'minkunet' or (points and points[0].is_cuda):
            return super().voxelize(points, data_samples)
        voxels, coors = [], []
        voxel_size = points[0].new_tensor(self.voxel_layer.voxel_size)
        for i, (res, data_sample) in enumerate(zip(points, data_samples)):
            res_coors = torch.round(res[:, :3] / voxel_size).int()
            res_coors -= res_coors.min(0)[0]
            inds, point2voxel_map = self.sparse_quantize(
                res_coors.cpu().numpy(), return_index=True, return_inverse=True)
            if self.training and self.max_voxels is not None and len(inds) > self.max_voxels:
                inds = np.random.choice(inds, self.max_voxels, replace=False)
            inds = torch.from_numpy(inds).to(res.device)
            if hasattr(data_sample, 'gt_pts_seg') and hasattr(data_sample.gt_pts_seg,
                                                              'pts_semantic_mask'):
                data_sample.gt_pts_seg.voxel_semantic_mask = \
                    data_sample.gt_pts_seg.pts_semantic_mask[inds]
            res_voxel_coors = res_coors[inds]
            pad = (1, 0) if self.batch_first else (0, 1)
            res_voxel_coors = F.pad(res_voxel_coors, pad, mode='constant', value=i)
            data_sample.batch_idx = res_voxel_coors[:, 0 if self.batch_first else -1]
            data_sample.point2voxel_map = torch.from_numpy(
                np.asarray(point2voxel_map).reshape(-1)).to(res.device).long()
            voxels.append(res[inds])
            coors.append(res_voxel_coors)
        return dict(voxels=torch.cat(voxels, dim=0), coors=torch.cat(coors, dim=0))
