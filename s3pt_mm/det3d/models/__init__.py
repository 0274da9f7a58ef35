"""PETR's registered model parts (mmdet3d registries)."""
from .bbox3d_l1_cost import BBox3DL1Cost
from .cpu_safe_det3d_data_preprocessor import CPUSafeDet3DDataPreprocessor
from .frozen_backbone import FrozenBackbone
from .grid_mask import GridMask
from .hungarian_assigner_3d import HungarianAssigner3D
from .nms_free_bbox_coder import NMSFreeBBoxCoder
from .petr import PETR
from .petr_head import PETRHead
from .position_embedding_3d import PositionEmbedding3D

__all__ = ['BBox3DL1Cost', 'CPUSafeDet3DDataPreprocessor', 'FrozenBackbone', 'GridMask',
           'HungarianAssigner3D', 'NMSFreeBBoxCoder', 'PETR', 'PETRHead', 'PositionEmbedding3D']
