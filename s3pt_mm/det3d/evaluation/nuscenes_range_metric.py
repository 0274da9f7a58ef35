"""mmdet3d's ``NuScenesMetric`` plus S3PT's per-range AP table, on any nuScenes-format data."""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mmdet3d.evaluation.metrics import NuScenesMetric
from mmdet3d.registry import METRICS
from mmengine.logging import MMLogger
from nuscenes.eval.detection.data_classes import DetectionConfig

from .range_ap import (TAB6_CLASSES, TAB6_RANGES, detection_metrics, format_range_ap_table,
                       load_eval_boxes, range_ap_table, range_table_to_flat)


@METRICS.register_module()
class NuScenesRangeMetric(NuScenesMetric):
    """nuScenes mAP / NDS and AP by ego-distance range (S3PT supplementary Tab. 6).

    Predictions are collected and written to the nuScenes JSON format by mmdet3d's
    ``NuScenesMetric``; the evaluation then runs nuscenes-devkit on the samples of that file
    (:mod:`~s3pt_mm.det3d.evaluation.range_ap`), which equals ``NuScenesEval`` on a predefined
    split when the file covers the split, and also works for versions without predefined
    splits (the synthetic dataset). Two changes to ``NuScenesMetric``:

    * the JSON keeps predictions up to ``max(ranges)`` metres for every class (mmdet3d drops
      boxes beyond the nuScenes class range, 30-50 m, while formatting, which would empty the
      0-60 m column for near-range classes); the standard metrics still apply the class ranges;
    * besides the standard keys (``<prefix>/mAP``, ``/NDS``, per-class AP and errors) it
      reports ``<prefix>/<class>_AP_0-<R>m`` and ``<prefix>/mAP_0-<R>m`` and writes
      ``range_ap.md`` / ``range_ap.json`` next to the result JSON.

    Args:
        data_root (str): nuScenes dataroot (with the ``<version>/*.json`` tables).
        ann_file (str): info pkl of the evaluated split.
        ranges (Sequence[float]): table ranges R (0-R m). Defaults to (20, 30, 60).
        range_classes (Sequence[str]): table classes. Defaults to Tab. 6's nine.
        **kwargs: ``NuScenesMetric`` arguments (``metric``, ``modality``, ``jsonfile_prefix``,
            ``eval_version``, ...).
    """

    def __init__(self, data_root: str, ann_file: str, ranges: Sequence[float] = TAB6_RANGES,
                 range_classes: Sequence[str] = TAB6_CLASSES, **kwargs) -> None:
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)
        self.ranges = tuple(float(r) for r in ranges)
        self.range_classes = tuple(range_classes)

    def format_results(self, results: List[dict], classes: Optional[List[str]] = None,
                       jsonfile_prefix: Optional[str] = None):
        """``NuScenesMetric.format_results`` keeping boxes up to ``max(ranges)`` metres."""
        standard = self.eval_detection_configs
        class_range = {name: max(float(dist), max(self.ranges))
                       for name, dist in standard.class_range.items()}
        widened = DetectionConfig.deserialize(dict(standard.serialize(), class_range=class_range))
        self.eval_detection_configs = widened
        try:
            return super().format_results(results, classes, jsonfile_prefix)
        finally:
            self.eval_detection_configs = standard

    def _evaluate_single(self, result_path: str, classes: Optional[List[str]] = None,
                         result_name: str = 'pred_instances_3d') -> Dict[str, float]:
        """Standard nuScenes metrics and the range table of one result file."""
        from nuscenes import NuScenes
        logger = MMLogger.get_current_instance()
        nusc = NuScenes(version=self.version, dataroot=self.data_root, verbose=False)
        cfg = self.eval_detection_configs
        gt, pred = load_eval_boxes(nusc, result_path, cfg.max_boxes_per_sample)
        summary = detection_metrics(gt, pred, cfg, nusc).serialize()
        table = range_ap_table(gt, pred, self.range_classes, self.ranges, nusc=nusc)

        out_dir = osp.dirname(result_path)
        with open(osp.join(out_dir, 'metrics_summary.json'), 'w') as f:
            json.dump(summary, f, indent=2)
        text = format_range_ap_table(table, self.range_classes)
        with open(osp.join(out_dir, 'range_ap.md'), 'w') as f:
            f.write(text + '\n')
        with open(osp.join(out_dir, 'range_ap.json'), 'w') as f:
            json.dump({f'0-{r:g}m': row for r, row in table.items()}, f, indent=2)
        logger.info(f'nuScenes AP by ego distance ({len(gt.sample_tokens)} samples):\n{text}')

        prefix = f'{result_name}_NuScenes'
        detail = {}
        for name in classes or []:
            for th, ap in summary['label_aps'][name].items():
                detail[f'{prefix}/{name}_AP_dist_{th}'] = float(ap)
            for err, value in summary['label_tp_errors'][name].items():
                detail[f'{prefix}/{name}_{err}'] = float(value)
        for err, value in summary['tp_errors'].items():
            detail[f'{prefix}/{self.ErrNameMapping[err]}'] = float(value)
        detail[f'{prefix}/NDS'] = float(summary['nd_score'])
        detail[f'{prefix}/mAP'] = float(summary['mean_ap'])
        for key, value in range_table_to_flat(table).items():
            detail[f'{prefix}/{key}'] = value
        return detail
