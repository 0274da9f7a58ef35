"""The per-range AP table (Tab. 6) on hand-made boxes with answers worked out by hand.

nuScenes AP at one threshold: predictions sorted by score are matched greedily to the closest
unmatched ground truth (centre distance on the ground plane < threshold); precision is sampled
at recall 0, 0.01, ..., 1 (zero beyond the highest recall reached); AP = mean over the recall
points 0.11..1.00 of max(precision - 0.1, 0) / 0.9. Below, every true positive outranks every
false positive, so precision is 1 up to the reached recall R and 0 after, and
AP = #{0.11, ..., 1.00 <= R} / 90 exactly (R never lands on the 0.01 grid, except R = 1).
"""
import pytest
from nuscenes.eval.common.data_classes import EvalBoxes
from nuscenes.eval.detection.data_classes import DetectionBox

from s3pt_mm.det3d.evaluation.range_ap import (TAB6_CLASSES, format_range_ap_table,
                                               range_ap_table)

# Ground truth 'car' boxes in the ego frame (ego at the origin): name -> (x, y), num_pts.
GT = {'g1': ((5, 0), 5), 'g2': ((0, 12), 5), 'g3': ((-15, 3), 5), 'g7': ((8, 8), 0),
      'g10': ((-21, -5), 5), 'g9': ((0, 22), 5), 'g4': ((24, 0), 5), 'g5': ((0, -27), 5),
      'g6': ((45, 10), 5), 'g8': ((55, 0), 5), 'g11': ((70, 0), 5)}
# Predictions: (x, y, z offset), score. Exact hits outrank the 0.7 / 1.5 / 3.0 m misses, so at
# every threshold the matches are a prefix of the score order.
PRED = [((5, 0, 3.0), 0.95),   # g1; 3 m too high: nuScenes matching ignores z
        ((0, 22, 0), 0.92),    # g9
        ((-21, -5, 0), 0.91),  # g10
        ((0, -27, 0), 0.90),   # g5
        ((45, 10, 0), 0.85),   # g6
        ((0.7, 12, 0), 0.80),  # g2 + 0.7 m: a match from 1 m on
        ((-15, 4.5, 0), 0.75),  # g3 + 1.5 m: from 2 m on
        ((27, 0, 0), 0.70)]    # g4 + 3.0 m: at 4 m only


def _box(xy, z, name, score, num_pts=-1):
    translation = (float(xy[0]), float(xy[1]), float(z))
    return DetectionBox(sample_token='s0', translation=translation, size=(1.9, 4.5, 1.6),
                        rotation=(1.0, 0.0, 0.0, 0.0), ego_translation=translation,
                        num_pts=num_pts, detection_name=name, detection_score=float(score))


def _boxes():
    gt, pred = EvalBoxes(), EvalBoxes()
    gt.add_boxes('s0', [_box(xy, 0.0, 'car', -1.0, n) for xy, n in GT.values()])
    boxes = [_box(p[:2], p[2], 'car', s) for p, s in PRED]
    # A confident pedestrian on top of g1: classes are matched separately.
    boxes.append(_box((5, 0), 0.0, 'pedestrian', 0.99))
    pred.add_boxes('s0', boxes)
    return gt, pred


def test_range_ap_table_known_answer():
    gt, pred = _boxes()
    table = range_ap_table(gt, pred)
    # 0-20 m: g1, g2, g3 (g7 has no points) vs p(g1), p(g2), p(g3):
    #   0.5 m -> R = 1/3: 23/90; 1 m -> R = 2/3: 56/90; 2 m, 4 m -> R = 1: 90/90.
    ap20 = (23 + 56 + 90 + 90) / 360
    # 0-30 m: + g9, g10, g4, g5 = 7 targets; matches 4, 5, 6, 7 (p(g4) is 27 m away):
    #   R = 4/7, 5/7, 6/7, 1 -> 47, 61, 75, 90 recall points.
    ap30 = (47 + 61 + 75 + 90) / 360
    # 0-60 m: + g6, g8 = 9 targets (g11 is 70 m away); matches 5, 6, 7, 8:
    #   R = 5/9, 6/9, 7/9, 8/9 -> 45, 56, 67, 78.
    ap60 = (45 + 56 + 67 + 78) / 360
    for rng, ap in ((20.0, ap20), (30.0, ap30), (60.0, ap60)):
        assert table[rng]['car'] == pytest.approx(ap, abs=1e-12)
        # No pedestrian ground truth: AP 0 (nuScenes' convention), as for the other classes.
        assert all(table[rng][c] == 0.0 for c in TAB6_CLASSES if c != 'car')
        assert table[rng]['mAP'] == pytest.approx(ap / 9, abs=1e-12)
    assert 'construction_vehicle' not in table[20.0]


def test_range_filter_is_strict_and_uses_ego_distance():
    """A box exactly 20 m away belongs to 0-30 but not to 0-20 (devkit: ego_dist < R)."""
    gt, pred = EvalBoxes(), EvalBoxes()
    gt.add_boxes('s0', [_box((12, 16), 0.0, 'barrier', -1.0, 3)])  # |(12, 16)| = 20
    pred.add_boxes('s0', [_box((12, 16), 0.0, 'barrier', 0.5)])
    table = range_ap_table(gt, pred, ranges=(20.0, 30.0))
    assert table[20.0]['barrier'] == 0.0
    assert table[30.0]['barrier'] == pytest.approx(1.0)


def test_format_table_rows_and_columns():
    gt, pred = _boxes()
    text = format_range_ap_table(range_ap_table(gt, pred))
    lines = text.splitlines()
    assert lines[0] == '| class | 0-20m | 0-30m | 0-60m |'
    assert len(lines) == 2 + len(TAB6_CLASSES) + 1
    assert lines[2].startswith('| car | 0.719 | 0.758 | 0.683 |')
