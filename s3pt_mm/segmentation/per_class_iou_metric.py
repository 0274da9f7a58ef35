"""mmseg's IoU metric that also returns the per-class IoUs (for logs, sweeps and DG tables)."""
from typing import Dict, List

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


def iou_from_areas(area_intersect: np.ndarray, area_union: np.ndarray) -> np.ndarray:
    """Per-class IoU = |pred ∩ gt| / |pred ∪ gt|; NaN where a class is in neither.

    Args:
        area_intersect (np.ndarray): (K,) pixels with prediction = label = k.
        area_union (np.ndarray): (K,) pixels with prediction = k or label = k.

    Returns:
        np.ndarray: (K,) float64 IoU in [0, 1] or NaN.
    """
    area_intersect = np.asarray(area_intersect, dtype=np.float64)
    area_union = np.asarray(area_union, dtype=np.float64)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(area_union > 0, area_intersect / area_union, np.nan)


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` plus ``IoU.<class>`` entries in its result.

    The log still gets mmseg's per-class table (IoU and Acc per class, in %); the returned
    dict additionally holds every class's IoU (in %, 2 decimals, NaN for classes absent from
    both prediction and ground truth — ``mIoU`` is the mean over the others), so they reach
    ``scalars.json``, the lr sweep and the DG tables.

    Args:
        **kwargs: :class:`mmseg.evaluation.IoUMetric` arguments (``ignore_index``,
            ``iou_metrics``, ``nan_to_num``, ...).
    """

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """mmseg's metrics (and log table) plus one ``IoU.<class>`` per class."""
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        iou = iou_from_areas(sum(r[0] for r in results).numpy(),
                             sum(r[1] for r in results).numpy())
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = float(np.round(value * 100, 2))
        return metrics
