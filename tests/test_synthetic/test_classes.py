"""Class lists: ids, label maps and bins."""
import numpy as np
import pytest

from s3pt_mm.synthetic.classes import (CATEGORY_TO_DETECTION, DETECTION_CLASSES, IGNORE_INDEX,
                                       NUSCENES_CATEGORIES, SEMANTIC_CLASSES, attribute_label,
                                       colorize_semantic, detection_label, visibility_token)


def test_semantic_classes_are_dense_and_unique():
    assert [c.id for c in SEMANTIC_CLASSES] == list(range(17))
    assert len({c.name for c in SEMANTIC_CLASSES}) == 17
    assert len({c.color for c in SEMANTIC_CLASSES}) == 17
    assert IGNORE_INDEX == 255 and IGNORE_INDEX not in {c.id for c in SEMANTIC_CLASSES}
    # The 10 object classes come first, in the nuScenes detection-class (alphabetical) set.
    assert {c.name for c in SEMANTIC_CLASSES[:10]} == set(DETECTION_CLASSES)


def test_colorize():
    labels = np.array([[3, 16], [255, 0]], dtype=np.uint8)
    rgb = colorize_semantic(labels)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 158, 0) and tuple(rgb[0, 1]) == (135, 206, 235)
    assert tuple(rgb[1, 0]) == (0, 0, 0)


def test_detection_labels_follow_mmdet3d_order():
    assert DETECTION_CLASSES[0] == 'car' and DETECTION_CLASSES[7] == 'pedestrian'
    assert detection_label('vehicle.bus.rigid') == 3
    assert detection_label('movable_object.barrier') == 9
    assert detection_label('animal') == -1
    assert set(CATEGORY_TO_DETECTION) == set(NUSCENES_CATEGORIES)


def test_attribute_labels_match_the_real_pkl_meaning():
    # In the real keyframe a standing pedestrian has attr_label 3, a stopped car 7, a cyclist 0.
    assert attribute_label('pedestrian.standing') == 3
    assert attribute_label('vehicle.stopped') == 7
    assert attribute_label('cycle.with_rider') == 0
    assert attribute_label(None) == 8


@pytest.mark.parametrize('fraction, token', [(0.0, '1'), (0.399, '1'), (0.4, '2'), (0.59, '2'),
                                             (0.6, '3'), (0.8, '4'), (1.0, '4')])
def test_visibility_bins(fraction, token):
    assert visibility_token(fraction) == token


def test_visibility_rejects_out_of_range():
    with pytest.raises(ValueError, match='visible fraction'):
        visibility_token(1.5)
