"""nuScenes evaluation for PETR: standard metrics and the per-range AP table (Tab. 6)."""
from .nuscenes_range_metric import NuScenesRangeMetric
from .range_ap import (NUSCENES_DIST_THS, TAB6_CLASSES, TAB6_RANGES, class_ap, detection_metrics,
                       filter_by_range, format_range_ap_table, load_eval_boxes, range_ap_table)

__all__ = ['NuScenesRangeMetric', 'TAB6_CLASSES', 'TAB6_RANGES', 'NUSCENES_DIST_THS', 'class_ap',
           'detection_metrics', 'filter_by_range', 'format_range_ap_table', 'load_eval_boxes',
           'range_ap_table']
