"""CSC / SLidR: image-to-LiDAR pre-training of a 3D backbone (docs/csc.md)."""
from .criterion import CSCCriterion
from .losses import prototype_loss, superpixel_infonce_loss
from .mmpb import MultiModalPrototypeBlender
from .pairing import pair_points_with_pixels
from .pooling import PooledSuperpixels, pool_superpixels, superpixel_majority_class
from .prototypes import PrototypeAccumulator, class_sums
from .superpixels import (SegmentationModelSuperpixels, SemanticMapSuperpixels,
                          SLICSuperpixels, SuperpixelSource, build_superpixel_source)

__all__ = [
    'CSCCriterion', 'prototype_loss', 'superpixel_infonce_loss', 'MultiModalPrototypeBlender',
    'pair_points_with_pixels', 'PooledSuperpixels', 'pool_superpixels',
    'superpixel_majority_class', 'PrototypeAccumulator', 'class_sums',
    'SegmentationModelSuperpixels', 'SemanticMapSuperpixels', 'SLICSuperpixels',
    'SuperpixelSource', 'build_superpixel_source'
]

# Registered OpenMMLab modules (need mmdet3d). CSC builds s3pt_mm.det3d's FrozenBackbone and
# CPUSafeDet3DDataPreprocessor, so importing s3pt_mm.csc registers those too.
from .. import det3d  # noqa: E402,F401
from .csc_data_preprocessor import CSCDataPreprocessor  # noqa: E402
from .csc_paired_dataset import CSCPairedDataset  # noqa: E402
from .csc_pretrainer import CSCPretrainer  # noqa: E402
from .csc_prototype_hook import CSCPrototypeHook  # noqa: E402
from .frozen_voxel_backbone import FrozenVoxelBackbone  # noqa: E402
from .nuscenes_lidarseg_dataset import NuScenesLidarSegDataset  # noqa: E402

__all__ += ['CSCDataPreprocessor', 'CSCPairedDataset', 'CSCPretrainer', 'CSCPrototypeHook',
            'FrozenVoxelBackbone', 'NuScenesLidarSegDataset']
