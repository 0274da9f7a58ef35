"""CSC / SLidR pre-training model: sparse 3D backbone vs frozen ViT + trainable decoder."""
from typing import Dict, Iterable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModel
from torch import Tensor, nn

from .criterion import CSCCriterion
from .pooling import PooledSuperpixels, pool_superpixels, superpixel_majority_class
from .prototypes import PrototypeAccumulator

__all__ = ['CSCPretrainer']


@MODELS.register_module()
class CSCPretrainer(BaseModel):
    """Pre-train a LiDAR backbone from images (CSC; SLidR with ``use_prototype_loss=False``).

    The method in steps (docs/csc.md):

    1. points -> voxels -> ``backbone`` (mmdet3d ``MinkUNetBackbone``, spconv) -> voxel
       features -> per point (``point2voxel_map``) -> ``point_head`` (Linear to C) -> L2 norm;
    2. camera images -> frozen ViT (``image_backbone``, an S3PT checkpoint) -> patch tokens
       -> ``image_decoder`` (1x1 conv to C, bilinear upsampling by the patch size, the
       reference's DINO-ViT decoder) -> L2 norm;
    3. pool both inside every superpixel (§2) -> ``CSCCriterion``: L_sp, and from epoch
       lambda L_pro with MMPB prototypes rebuilt every epoch by :meth:`build_prototypes`.

    Args:
        backbone (dict): 3D backbone config (``MinkUNetBackbone``).
        image_backbone (dict): frozen image backbone config (``FrozenBackbone`` around an
            mmpretrain ViT with ``out_type='featmap'``).
        criterion (dict): ``CSCCriterion`` arguments.
        backbone_channels (int): channels of the 3D backbone output. Defaults to 96.
        image_channels (int): channels of the ViT tokens. Defaults to 384.
        patch_size (int): ViT patch size (decoder upsampling factor). Defaults to 16.
        feat_channels (int): C of the contrastive space. Defaults to 64.
        prototype_sync (str): ``PrototypeAccumulator`` sync mode. Defaults to 'weighted'.
        data_preprocessor (dict): ``CSCDataPreprocessor`` config.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, backbone: dict, image_backbone: dict, criterion: dict,
                 backbone_channels: int = 96, image_channels: int = 384, patch_size: int = 16,
                 feat_channels: int = 64, prototype_sync: str = 'weighted',
                 data_preprocessor: Optional[dict] = None, init_cfg=None) -> None:
        if isinstance(data_preprocessor, dict):  # resolve our types in mmdet3d's registry
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.point_head = nn.Linear(backbone_channels, feat_channels)
        self.image_backbone = MODELS.build(image_backbone)
        self.image_decoder = nn.Sequential(
            nn.Conv2d(image_channels, feat_channels, 1),
            nn.Upsample(scale_factor=patch_size, mode='bilinear', align_corners=True))
        self.criterion = CSCCriterion(channels=feat_channels, **criterion)
        self.prototype_sync = prototype_sync

    # -- features --------------------------------------------------------------------------
    def extract_point_feats(self, inputs: dict, data_samples: List) -> Tensor:
        """(sum N_i, C) L2-normalised features of every point of the batch, sample order."""
        voxel_dict = inputs['voxels']
        voxel_feats = self.backbone(voxel_dict['voxels'], voxel_dict['coors'])
        coors = voxel_dict['coors']
        batch_col = 0 if self.data_preprocessor.points_preprocessor.batch_first else -1
        counts = torch.bincount(coors[:, batch_col].long(), minlength=len(data_samples))
        starts = torch.cumsum(counts, 0) - counts
        index = torch.cat([ds.point2voxel_map.long() + starts[i]
                           for i, ds in enumerate(data_samples)])
        return F.normalize(self.point_head(voxel_feats[index]), dim=1)

    def extract_pixel_feats(self, cam_imgs: Tensor) -> Tensor:
        """(B * Ncam, C, H, W) L2-normalised pixel features from the frozen ViT + decoder."""
        tokens = self.image_backbone(cam_imgs)[-1]
        feats = self.image_decoder(tokens)
        if feats.shape[-2:] != cam_imgs.shape[-2:]:
            raise ValueError(f'decoded features {tuple(feats.shape[-2:])} do not match the '
                             f'images {tuple(cam_imgs.shape[-2:])}: image sides must be '
                             'multiples of the patch size')
        return F.normalize(feats, dim=1)

    def pool(self, inputs: dict, data_samples: List) -> Tuple[PooledSuperpixels, Tensor]:
        """Pool the batch's point and pixel features per superpixel (docs/csc.md §2).

        Returns:
            Tuple[PooledSuperpixels, Tensor]: pooled valid superpixels and their (K,) classes
            (-1 = none).
        """
        point_feats = self.extract_point_feats(inputs, data_samples)
        pixel_feats = self.extract_pixel_feats(inputs['cam_imgs'])
        device = point_feats.device
        pp, pi, sps, cls = [], [], [], []
        point_offset = image_offset = 0
        for ds in data_samples:
            pp.append(ds.pairing_points.to(device).long() + point_offset)
            pairs = ds.pairing_images.to(device).long().clone()
            pairs[:, 0] += image_offset
            pi.append(pairs)
            sps.append(ds.superpixels.to(device))
            cls.append(ds.sp_classes.to(device))
            point_offset += len(ds.point2voxel_map)
            image_offset += ds.superpixels.shape[0]
        superpixels = torch.cat(sps)
        pooled = pool_superpixels(point_feats, pixel_feats, superpixels, torch.cat(pp),
                                  torch.cat(pi).reshape(-1, 3))
        classes = superpixel_majority_class(superpixels, torch.cat(cls), pooled.num_superpixels,
                                            self.criterion.num_prototypes)[pooled.index]
        return pooled, classes

    # -- BaseModel API ----------------------------------------------------------------------
    def loss(self, inputs: dict, data_samples: List) -> Dict[str, Tensor]:
        """L_sp (and L_pro once active) of a batch; see :class:`CSCCriterion`."""
        pooled, classes = self.pool(inputs, data_samples)
        return self.criterion(pooled.point_feats, pooled.pixel_feats, classes)

    def forward(self, inputs: dict, data_samples: Optional[List] = None, mode: str = 'loss'):
        """``mode='loss'``: loss dict; ``'tensor'``: (sum N_i, C) point features."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_point_feats(inputs, data_samples)
        raise ValueError(f"CSCPretrainer supports mode 'loss' and 'tensor', got {mode!r}")

    def set_epoch(self, epoch: int) -> None:
        """Forward the (0-based) epoch to the criterion (the L_pro switch)."""
        self.criterion.set_epoch(epoch)

    @torch.no_grad()
    def build_prototypes(self, batches: Iterable[dict]) -> Tuple[Tensor, Tensor]:
        """Rebuild the 2D / 3D prototypes by a no-grad pass (reference: eval mode).

        Args:
            batches (Iterable[dict]): collated batches (e.g. the train dataloader).

        Returns:
            Tuple[Tensor, Tensor]: the installed (T, C) pixel and point prototypes.
        """
        was_training = self.training
        self.eval()
        acc = PrototypeAccumulator(self.criterion.num_prototypes, self.criterion.channels,
                                   sync=self.prototype_sync)
        try:
            for data in batches:
                data = self.data_preprocessor(data, False)
                pooled, classes = self.pool(data['inputs'], data['data_samples'])
                acc.update(pooled.pixel_feats, pooled.point_feats, classes)
        finally:
            self.train(was_training)
        pixel, point = acc.compute(device=self.criterion.pixel_prototypes.device)
        self.criterion.set_prototypes(pixel, point)
        return pixel, point
