"""Pseudo-labels against ground truth: recall / precision at a centre distance, centre error,
3D IoU (docs/cm3d.md); nuScenes mAP / NDS come from
:class:`s3pt_mm.det3d.evaluation.NuScenesRangeMetric` (``tools/cm3d/generate_pseudo_labels.py``).

Matching follows nuScenes' detection matching: per class, predictions in decreasing score
order each take the nearest still unmatched ground-truth box of their class whose xy centre
distance is <= ``max_dist``. Ground truth and predictions are first restricted to the nuScenes
class ranges (``DEFAULT_CLASS_RANGE``, xy distance from the ego origin), and ground-truth boxes
without LiDAR points are dropped, as nuScenes' evaluation does.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

#: nuScenes' ``detection_cvpr_2019`` class ranges in metres.
DEFAULT_CLASS_RANGE: Dict[str, float] = {
    'car': 50.0, 'truck': 50.0, 'bus': 50.0, 'trailer': 50.0, 'construction_vehicle': 50.0,
    'pedestrian': 40.0, 'motorcycle': 40.0, 'bicycle': 40.0, 'traffic_cone': 30.0,
    'barrier': 30.0,
}


def match_boxes(pred_xy: np.ndarray, pred_scores: np.ndarray, pred_labels: Sequence[str],
                gt_xy: np.ndarray, gt_labels: Sequence[str], max_dist: float = 2.0
                ) -> np.ndarray:
    """Greedy class-aware matching by xy centre distance (nuScenes' rule).

    Args:
        pred_xy (np.ndarray): (P, 2) predicted centres.
        pred_scores (np.ndarray): (P,) scores (higher first; ties in input order).
        pred_labels (Sequence[str]): (P,) classes.
        gt_xy (np.ndarray): (G, 2) ground-truth centres.
        gt_labels (Sequence[str]): (G,) classes.
        max_dist (float): largest matching distance. Defaults to 2.0.

    Returns:
        np.ndarray: (P,) int64 index of the matched ground-truth box, -1 = unmatched.
    """
    match = np.full(len(pred_xy), -1, dtype=np.int64)
    taken = np.zeros(len(gt_xy), dtype=bool)
    gt_labels = np.asarray(gt_labels, dtype=object)
    for i in np.argsort(-np.asarray(pred_scores, dtype=np.float64), kind='stable'):
        cand = np.flatnonzero((gt_labels == pred_labels[i]) & ~taken)
        if len(cand) == 0:
            continue
        d = np.hypot(gt_xy[cand, 0] - pred_xy[i, 0], gt_xy[cand, 1] - pred_xy[i, 1])
        k = int(np.argmin(d))
        if d[k] <= max_dist:
            match[i] = cand[k]
            taken[cand[k]] = True
    return match


def iou_3d(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """3D IoU of paired boxes with mmdet3d's ``LiDARInstance3DBoxes.overlaps``.

    Args:
        boxes_a (np.ndarray): (K, 7) gravity-centre boxes (x, y, z, l, w, h, yaw).
        boxes_b (np.ndarray): (K, 7) the same for the partners.

    Returns:
        np.ndarray: (K,) IoU of ``boxes_a[k]`` with ``boxes_b[k]``.
    """
    if len(boxes_a) == 0:
        return np.zeros(0)
    import torch
    from mmdet3d.structures import LiDARInstance3DBoxes
    a = LiDARInstance3DBoxes(torch.as_tensor(boxes_a, dtype=torch.float32), origin=(0.5, 0.5, 0.5))
    b = LiDARInstance3DBoxes(torch.as_tensor(boxes_b, dtype=torch.float32), origin=(0.5, 0.5, 0.5))
    return np.diag(LiDARInstance3DBoxes.overlaps(a, b, mode='iou').numpy()).astype(np.float64)


@dataclass
class _Accumulator:
    num_pred: int = 0
    num_gt: int = 0
    errors: List[float] = field(default_factory=list)
    errors_3d: List[float] = field(default_factory=list)
    ious: List[float] = field(default_factory=list)


class PseudoLabelEvaluator:
    """Accumulates per-sample matches and reports recall, precision, centre error and IoU.

    Args:
        max_dist (float): matching distance. Defaults to 2.0.
        class_range (Mapping[str, float]): evaluation range per class; classes absent from it
            are not evaluated. Defaults to nuScenes'.
    """

    def __init__(self, max_dist: float = 2.0,
                 class_range: Mapping[str, float] = DEFAULT_CLASS_RANGE) -> None:
        self.max_dist = float(max_dist)
        self.class_range = dict(class_range)
        self.total = _Accumulator()
        self.per_class: Dict[str, _Accumulator] = {}

    def _in_range(self, boxes: np.ndarray, labels: Sequence[str], origin: np.ndarray
                  ) -> np.ndarray:
        limit = np.array([self.class_range.get(lab, -1.0) for lab in labels])
        dist = np.hypot(boxes[:, 0] - origin[0], boxes[:, 1] - origin[1]) if len(boxes) else \
            np.zeros(0)
        return dist <= limit

    def add(self, pred_boxes: np.ndarray, pred_scores: np.ndarray, pred_labels: Sequence[str],
            gt_boxes: np.ndarray, gt_labels: Sequence[str], gt_num_points: np.ndarray,
            ego_xy: Optional[np.ndarray] = None) -> np.ndarray:
        """Match one sample's predictions to its ground truth and accumulate.

        Args:
            pred_boxes (np.ndarray): (P, 7) predicted boxes (LiDAR frame, gravity centre).
            pred_scores (np.ndarray): (P,) scores.
            pred_labels (Sequence[str]): (P,) classes.
            gt_boxes (np.ndarray): (G, 7) ground truth, same frame.
            gt_labels (Sequence[str]): (G,) classes.
            gt_num_points (np.ndarray): (G,) LiDAR points per box (0 = not evaluated; -1 =
                unknown, kept).
            ego_xy (Optional[np.ndarray]): ego origin for the class ranges. Defaults to (0, 0).

        Returns:
            np.ndarray: (P',) match of every in-range prediction (see :func:`match_boxes`).
        """
        origin = np.zeros(2) if ego_xy is None else np.asarray(ego_xy, dtype=np.float64)
        pred_boxes = np.asarray(pred_boxes, dtype=np.float64).reshape(-1, 7)
        gt_boxes = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 7)
        pk = self._in_range(pred_boxes, pred_labels, origin)
        gk = self._in_range(gt_boxes, gt_labels, origin) & (np.asarray(gt_num_points) != 0)
        pred_boxes, pred_scores = pred_boxes[pk], np.asarray(pred_scores)[pk]
        pred_labels = [lab for lab, k in zip(pred_labels, pk) if k]
        gt_boxes = gt_boxes[gk]
        gt_labels = [lab for lab, k in zip(gt_labels, gk) if k]
        match = match_boxes(pred_boxes[:, :2], pred_scores, pred_labels, gt_boxes[:, :2],
                            gt_labels, self.max_dist)
        hit = match >= 0
        ious = iou_3d(pred_boxes[hit], gt_boxes[match[hit]])
        errs = np.hypot(*(pred_boxes[hit, :2] - gt_boxes[match[hit], :2]).T)
        errs3 = np.linalg.norm(pred_boxes[hit, :3] - gt_boxes[match[hit], :3], axis=1)
        labels_hit = [lab for lab, h in zip(pred_labels, hit) if h]
        for acc, sel in [(self.total, None)] + [
                (self.per_class.setdefault(c, _Accumulator()), c)
                for c in set(pred_labels) | set(gt_labels)]:
            acc.num_pred += sum(1 for lab in pred_labels if sel is None or lab == sel)
            acc.num_gt += sum(1 for lab in gt_labels if sel is None or lab == sel)
            keep = [k for k, lab in enumerate(labels_hit) if sel is None or lab == sel]
            acc.errors.extend(errs[keep].tolist())
            acc.errors_3d.extend(errs3[keep].tolist())
            acc.ious.extend(ious[keep].tolist())
        return match

    @staticmethod
    def _summary(acc: _Accumulator) -> Dict[str, float]:
        tp = len(acc.errors)
        nan = float('nan')
        return {
            'num_pred': acc.num_pred, 'num_gt': acc.num_gt, 'true_positives': tp,
            'recall': tp / acc.num_gt if acc.num_gt else nan,
            'precision': tp / acc.num_pred if acc.num_pred else nan,
            'median_centre_error': float(np.median(acc.errors)) if tp else nan,
            'median_centre_error_3d': float(np.median(acc.errors_3d)) if tp else nan,
            'mean_iou_3d': float(np.mean(acc.ious)) if tp else nan,
        }

    def summary(self) -> Dict[str, object]:
        """Totals and per-class figures.

        Returns:
            Dict[str, object]: ``recall``, ``precision`` (at ``max_dist``),
            ``median_centre_error`` (xy, metres, over matches), ``median_centre_error_3d``,
            ``mean_iou_3d`` (over matches), counts, and ``per_class`` with the same per class.
            NaN where a figure has no denominator.
        """
        out: Dict[str, object] = dict(self._summary(self.total), max_dist=self.max_dist)
        out['per_class'] = {c: self._summary(a) for c, a in sorted(self.per_class.items())}
        return out
