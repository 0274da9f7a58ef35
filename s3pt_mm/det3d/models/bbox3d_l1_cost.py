"""L1 matching cost between 3D box codes (PETR's regression cost)."""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners.match_cost import BaseMatchCost
from mmdet3d.registry import TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor


@TASK_UTILS.register_module()
class BBox3DL1Cost(BaseMatchCost):
    """``weight * sum_k |code_pred_k - code_gt_k|`` over the first ``num_dims`` code entries.

    Codes are :func:`~s3pt_mm.det3d.box_coding.encode_boxes` 10-vectors; the default 8 entries
    are centre, log-size and (sin, cos) of the yaw, leaving velocity out of the matching as
    PETR / DETR3D do.

    Args:
        weight (float): cost weight. Defaults to 1.
        num_dims (int): leading code entries compared. Defaults to 8.
    """

    def __init__(self, weight: float = 1.0, num_dims: int = 8) -> None:
        super().__init__(weight=weight)
        self.num_dims = num_dims

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        """Cost matrix.

        Args:
            pred_instances (InstanceData): ``bboxes`` (Q, >= num_dims) predicted codes.
            gt_instances (InstanceData): ``bboxes`` (G, >= num_dims) target codes.
            img_meta (Optional[dict]): unused.

        Returns:
            Tensor: (Q, G) costs.
        """
        pred = pred_instances.bboxes[:, :self.num_dims]
        gt = gt_instances.bboxes[:, :self.num_dims]
        return torch.cdist(pred, gt, p=1) * self.weight
