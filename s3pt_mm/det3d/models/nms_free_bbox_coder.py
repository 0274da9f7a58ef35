"""NMS-free decoding of set predictions into scored 3D boxes."""
from typing import Dict, Optional, Sequence

import torch
from mmdet3d.registry import TASK_UTILS
from torch import Tensor

from ..box_coding import decode_boxes, encode_boxes


@TASK_UTILS.register_module()
class NMSFreeBBoxCoder:
    """Top-k (query, class) pairs of a set predictor, decoded into boxes, without NMS.

    A DETR-style head predicts at most one object per query, so instead of non-maximum
    suppression the ``max_num`` highest sigmoid scores over all (query, class) pairs are kept;
    each keeps its query's box. Boxes whose centre leaves ``post_center_range`` or whose score
    is not above ``score_threshold`` are dropped (official ``NMSFreeCoder``).

    Args:
        num_classes (int): number of classes.
        max_num (int): boxes kept per sample. Defaults to 300.
        post_center_range (Optional[Sequence[float]]): ``[x_min, y_min, z_min, x_max, y_max,
            z_max]`` allowed for box centres; None keeps all. Defaults to None.
        score_threshold (Optional[float]): minimum score; None keeps all. Defaults to None.
    """

    def __init__(self, num_classes: int, max_num: int = 300,
                 post_center_range: Optional[Sequence[float]] = None,
                 score_threshold: Optional[float] = None) -> None:
        if post_center_range is not None and len(post_center_range) != 6:
            raise ValueError(f'post_center_range needs 6 values, got {post_center_range}')
        self.num_classes = num_classes
        self.max_num = max_num
        self.post_center_range = post_center_range
        self.score_threshold = score_threshold

    @staticmethod
    def encode(boxes: Tensor) -> Tensor:
        """(M, 7 | 9) gravity-centre boxes -> (M, 8 | 10) codes (:func:`encode_boxes`)."""
        return encode_boxes(boxes)

    def decode(self, cls_scores: Tensor, bbox_preds: Tensor) -> Dict[str, Tensor]:
        """Decode one sample's predictions.

        Args:
            cls_scores (Tensor): (Q, num_classes) logits.
            bbox_preds (Tensor): (Q, 10) codes with metric centres.

        Returns:
            Dict[str, Tensor]: ``bboxes`` (K, 9) gravity-centre boxes
            ``(x, y, z, l, w, h, yaw, vx, vy)``, ``scores`` (K,), ``labels`` (K,), with
            ``K <= max_num``, sorted by decreasing score.

        Raises:
            ValueError: if the class dimension is not ``num_classes``.
        """
        if cls_scores.shape[-1] != self.num_classes:
            raise ValueError(f'cls_scores has {cls_scores.shape[-1]} classes, coder expects '
                             f'{self.num_classes}')
        scores = cls_scores.sigmoid().flatten()
        k = min(self.max_num, scores.numel())
        scores, index = scores.topk(k)
        labels = index % self.num_classes
        boxes = decode_boxes(bbox_preds[torch.div(index, self.num_classes, rounding_mode='floor')])
        keep = torch.ones_like(scores, dtype=torch.bool)
        if self.score_threshold is not None:
            keep &= scores > self.score_threshold
        if self.post_center_range is not None:
            rng = boxes.new_tensor(self.post_center_range)
            keep &= ((boxes[:, :3] >= rng[:3]) & (boxes[:, :3] <= rng[3:])).all(dim=1)
        return dict(bboxes=boxes[keep], scores=scores[keep], labels=labels[keep])
