"""nuScenes detection metrics on any set of samples, and S3PT's per-range AP table (Tab. 6).

Everything here is nuscenes-devkit: ground truth from ``load_gt_of_sample_tokens``, ego
distances from ``add_center_dist``, distance / LiDAR-point / bike-rack filtering from
``filter_eval_boxes``, matching from ``accumulate`` with ``center_distance`` and AP from
``calc_ap``. The only difference from ``NuScenesEval`` is that the evaluated samples are the
ones in the result file rather than a predefined split, so the same code works for real
nuScenes splits and for the synthetic dataset (its version has no predefined split).

Per-range AP (S3PT supplementary Tab. 6): for a range ``R`` every class' evaluation range is
set to ``R`` (nuScenes' defaults are 30-50 m per class), i.e. ground truth and predictions
with ego distance ``>= R`` are dropped before matching; AP is the mean over the matching
thresholds 0.5 / 1 / 2 / 4 m of ``calc_ap(min_recall=0.1, min_precision=0.1)`` and mAP the mean
over the nine classes (construction vehicle removed, as in the paper).
"""
import copy
import json
import os
from typing import Dict, Iterable, Mapping, Sequence, Tuple

import numpy as np
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.common.loaders import (add_center_dist, filter_eval_boxes,
                                          load_gt_of_sample_tokens,
                                          load_prediction_of_sample_tokens)
from nuscenes.eval.common.utils import center_distance
from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
from nuscenes.eval.detection.constants import TP_METRICS
from nuscenes.eval.detection.data_classes import DetectionBox, DetectionConfig, DetectionMetrics

#: Tab. 6's classes in its row order (construction vehicle removed).
TAB6_CLASSES = ('car', 'truck', 'bus', 'trailer', 'pedestrian', 'motorcycle', 'bicycle',
                'traffic_cone', 'barrier')
#: Tab. 6's ranges in metres: 0-20, 0-30, 0-60.
TAB6_RANGES = (20.0, 30.0, 60.0)
#: nuScenes' matching thresholds (centre distance on the ground plane, metres).
NUSCENES_DIST_THS = (0.5, 1.0, 2.0, 4.0)
#: The ten nuScenes detection classes.
NUSCENES_CLASSES = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
                    'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone')


def load_eval_boxes(nusc, result_path: str, max_boxes_per_sample: int = 500
                    ) -> Tuple[EvalBoxes, EvalBoxes]:
    """Ground truth and predictions of the samples in a nuScenes result file, with ego distances.

    Args:
        nusc (nuscenes.NuScenes): the dataset the results refer to.
        result_path (str): nuScenes detection JSON (``{'meta': ..., 'results': {token: [...]}}``,
            as mmdet3d's ``NuScenesMetric`` writes it).
        max_boxes_per_sample (int): nuScenes' limit. Defaults to 500.

    Returns:
        Tuple[EvalBoxes, EvalBoxes]: (ground truth, predictions), unfiltered, with
        ``ego_translation`` set.

    Raises:
        FileNotFoundError: if ``result_path`` does not exist.
        ValueError: if a sample token of the results is not in ``nusc``.
    """
    if not os.path.isfile(result_path):
        raise FileNotFoundError(f'nuScenes result file not found: {result_path}')
    with open(result_path) as f:
        tokens = list(json.load(f)['results'].keys())
    missing = []
    for token in tokens:
        try:
            nusc.getind('sample', token)
        except KeyError:
            missing.append(token)
    if missing:
        raise ValueError(f'{result_path}: {len(missing)} sample tokens are not in nuScenes '
                         f'{nusc.version} at {nusc.dataroot} (first: {missing[0]})')
    pred, _ = load_prediction_of_sample_tokens(result_path, max_boxes_per_sample, DetectionBox,
                                               sample_tokens=tokens)
    gt = load_gt_of_sample_tokens(nusc, tokens, DetectionBox)
    return add_center_dist(nusc, gt), add_center_dist(nusc, pred)


def filter_by_range(boxes: EvalBoxes, max_dist: Mapping[str, float], nusc=None) -> EvalBoxes:
    """A filtered copy of ``boxes``: ego distance < ``max_dist[class]`` and ``num_pts != 0``.

    With ``nusc`` this is nuscenes-devkit's ``filter_eval_boxes`` (which also drops bicycles and
    motorcycles inside bike racks); without it (hand-made boxes, no database) the same distance
    and point filters are applied without the bike-rack step.

    Args:
        boxes (EvalBoxes): boxes with ``ego_translation`` set.
        max_dist (Mapping[str, float]): per class, exclusive upper bound on the ego distance.
        nusc (Optional[nuscenes.NuScenes]): database for the bike-rack filter. Defaults to None.

    Returns:
        EvalBoxes: filtered copy; ``boxes`` is unchanged. Classes missing from ``max_dist``
        are dropped.
    """
    dist = {name: float(max_dist.get(name, -np.inf)) for name in NUSCENES_CLASSES}
    out = copy.deepcopy(boxes)
    if nusc is not None and len(out.all) > 0:
        return filter_eval_boxes(nusc, out, dist)
    for token in out.sample_tokens:
        out.boxes[token] = [b for b in out[token]
                            if b.ego_dist < dist.get(b.detection_name, -np.inf) and b.num_pts != 0]
    return out


def class_ap(gt: EvalBoxes, pred: EvalBoxes, class_name: str,
             dist_ths: Sequence[float] = NUSCENES_DIST_THS, min_recall: float = 0.1,
             min_precision: float = 0.1) -> float:
    """nuScenes AP of one class: mean over thresholds of ``calc_ap(accumulate(...))``.

    Args:
        gt (EvalBoxes): filtered ground truth.
        pred (EvalBoxes): filtered predictions.
        class_name (str): detection class.
        dist_ths (Sequence[float]): centre-distance thresholds (m). Defaults to 0.5/1/2/4.
        min_recall (float): Defaults to 0.1.
        min_precision (float): Defaults to 0.1.

    Returns:
        float: AP in [0, 1] (0 when the class has no ground truth, as in nuScenes).
    """
    return float(np.mean([
        calc_ap(accumulate(gt, pred, class_name, center_distance, th), min_recall, min_precision)
        for th in dist_ths]))


def range_ap_table(gt: EvalBoxes, pred: EvalBoxes, class_names: Sequence[str] = TAB6_CLASSES,
                   ranges: Sequence[float] = TAB6_RANGES,
                   dist_ths: Sequence[float] = NUSCENES_DIST_THS, min_recall: float = 0.1,
                   min_precision: float = 0.1, nusc=None) -> Dict[float, Dict[str, float]]:
    """Per-class AP and mAP of boxes within ``0 - R`` metres of the ego vehicle, for each R.

    Args:
        gt (EvalBoxes): ground truth with ``ego_translation`` (unfiltered).
        pred (EvalBoxes): predictions with ``ego_translation`` (unfiltered).
        class_names (Sequence[str]): classes of the table (mAP is their mean). Defaults to
            Tab. 6's nine.
        ranges (Sequence[float]): R values in metres. Defaults to (20, 30, 60).
        dist_ths (Sequence[float]): matching thresholds. Defaults to 0.5/1/2/4 m.
        min_recall (float): Defaults to 0.1.
        min_precision (float): Defaults to 0.1.
        nusc (Optional[nuscenes.NuScenes]): for the devkit's bike-rack filter. Defaults to None.

    Returns:
        Dict[float, Dict[str, float]]: ``table[R][class]`` and ``table[R]['mAP']``.
    """
    table: Dict[float, Dict[str, float]] = {}
    for rng in ranges:
        max_dist = {name: float(rng) for name in NUSCENES_CLASSES}
        gt_r = filter_by_range(gt, max_dist, nusc)
        pred_r = filter_by_range(pred, max_dist, nusc)
        row = {name: class_ap(gt_r, pred_r, name, dist_ths, min_recall, min_precision)
               for name in class_names}
        row['mAP'] = float(np.mean([row[name] for name in class_names]))
        table[float(rng)] = row
    return table


def format_range_ap_table(table: Mapping[float, Mapping[str, float]],
                          class_names: Iterable[str] = TAB6_CLASSES) -> str:
    """Markdown table with one row per class (+ mAP) and one column per range, like Tab. 6.

    Args:
        table (Mapping[float, Mapping[str, float]]): output of :func:`range_ap_table`.
        class_names (Iterable[str]): row order. Defaults to Tab. 6's.

    Returns:
        str: the table.
    """
    ranges = list(table.keys())
    header = '| class | ' + ' | '.join(f'0-{r:g}m' for r in ranges) + ' |'
    lines = [header, '|' + ' --- |' * (len(ranges) + 1)]
    for name in list(class_names) + ['mAP']:
        lines.append(f'| {name} | ' + ' | '.join(f'{table[r][name]:.3f}' for r in ranges) + ' |')
    return '\n'.join(lines)


def detection_metrics(gt: EvalBoxes, pred: EvalBoxes, config: DetectionConfig,
                      nusc=None) -> DetectionMetrics:
    """``NuScenesEval.evaluate`` on the given boxes: APs, TP errors, mAP and NDS.

    Same steps as nuscenes-devkit's ``DetectionEval`` (class-range filtering of both sets,
    ``accumulate`` per class and threshold, ``calc_ap``, ``calc_tp`` at ``dist_th_tp``, the
    devkit's NaN convention for traffic cones and barriers).

    Args:
        gt (EvalBoxes): ground truth with ``ego_translation`` (unfiltered).
        pred (EvalBoxes): predictions with ``ego_translation`` (unfiltered).
        config (DetectionConfig): e.g. ``config_factory('detection_cvpr_2019')``.
        nusc (Optional[nuscenes.NuScenes]): for the bike-rack filter. Defaults to None.

    Returns:
        DetectionMetrics: ``.mean_ap``, ``.nd_score``, ``.serialize()``.
    """
    gt_f = filter_by_range(gt, config.class_range, nusc)
    pred_f = filter_by_range(pred, config.class_range, nusc)
    metrics = DetectionMetrics(config)
    for name in config.class_names:
        for th in config.dist_ths:
            md = accumulate(gt_f, pred_f, name, config.dist_fcn_callable, th)
            metrics.add_label_ap(name, th, calc_ap(md, config.min_recall, config.min_precision))
        md = accumulate(gt_f, pred_f, name, config.dist_fcn_callable, config.dist_th_tp)
        for metric_name in TP_METRICS:
            if name == 'traffic_cone' and metric_name in ('attr_err', 'vel_err', 'orient_err'):
                tp = np.nan
            elif name == 'barrier' and metric_name in ('attr_err', 'vel_err'):
                tp = np.nan
            else:
                tp = calc_tp(md, config.min_recall, metric_name)
            metrics.add_label_tp(name, metric_name, tp)
    return metrics


def range_table_to_flat(table: Mapping[float, Mapping[str, float]]) -> Dict[str, float]:
    """``{'car_AP_0-20m': ..., 'mAP_0-20m': ...}`` for logging as scalar metrics."""
    out = {}
    for rng, row in table.items():
        for name, value in row.items():
            key = f'mAP_0-{rng:g}m' if name == 'mAP' else f'{name}_AP_0-{rng:g}m'
            out[key] = float(value)
    return out
