"""Class mappings: nuImages categories -> classes, dataset classes -> the shared DG classes."""
import numpy as np
import pytest

from s3pt_mm.segmentation.label_spaces import (CITYSCAPES_CLASSES, NUIMAGES_CATEGORY_TO_CLASS,
                                               NUIMAGES_SEG_CLASSES, SHARED_CLASSES, label_lut,
                                               label_space, nuimages_category_lut, shared_lut)
from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES

#: nuImages v1.0's 25 categories (category.json).
NUIMAGES_V1_CATEGORIES = (
    'animal', 'flat.driveable_surface', 'human.pedestrian.adult', 'human.pedestrian.child',
    'human.pedestrian.construction_worker', 'human.pedestrian.personal_mobility',
    'human.pedestrian.police_officer', 'human.pedestrian.stroller',
    'human.pedestrian.wheelchair', 'movable_object.barrier', 'movable_object.debris',
    'movable_object.pushable_pullable', 'movable_object.trafficcone',
    'static_object.bicycle_rack', 'vehicle.bicycle', 'vehicle.bus.bendy', 'vehicle.bus.rigid',
    'vehicle.car', 'vehicle.construction', 'vehicle.ego', 'vehicle.emergency.ambulance',
    'vehicle.emergency.police', 'vehicle.motorcycle', 'vehicle.trailer', 'vehicle.truck')


def test_nuimages_mapping_covers_the_release_and_the_paper_classes():
    assert sorted(NUIMAGES_CATEGORY_TO_CLASS) == sorted(NUIMAGES_V1_CATEGORIES)
    # Tab. 5's ten classes + driveable surface are reachable, background is the unlabelled rest
    assert set(NUIMAGES_CATEGORY_TO_CLASS.values()) - {None} == set(NUIMAGES_SEG_CLASSES[1:])
    lut = nuimages_category_lut(NUIMAGES_V1_CATEGORIES)
    by_name = dict(zip(NUIMAGES_V1_CATEGORIES, lut.tolist()))
    assert by_name['vehicle.car'] == 1 and by_name['vehicle.construction'] == 5
    assert by_name['vehicle.bus.bendy'] == by_name['vehicle.bus.rigid'] == 4
    assert by_name['human.pedestrian.child'] == by_name['human.pedestrian.police_officer'] == 8
    assert by_name['movable_object.trafficcone'] == 9 and by_name['movable_object.barrier'] == 10
    assert by_name['flat.driveable_surface'] == 11
    ignored = [n for n, v in by_name.items() if v == 255]
    assert sorted(ignored) == sorted([
        'animal', 'human.pedestrian.personal_mobility', 'human.pedestrian.stroller',
        'human.pedestrian.wheelchair', 'movable_object.debris',
        'movable_object.pushable_pullable', 'static_object.bicycle_rack', 'vehicle.ego',
        'vehicle.emergency.ambulance', 'vehicle.emergency.police'])
    with pytest.raises(ValueError, match='vehicle.hovercraft'):
        nuimages_category_lut(['vehicle.hovercraft'])


def test_shared_luts_match_the_documented_table():
    # shared ids: background 0, road 1, car 2, truck 3, bus 4, motorcycle 5, bicycle 6, ped. 7
    assert SHARED_CLASSES == ('background', 'road', 'car', 'truck', 'bus', 'motorcycle',
                              'bicycle', 'pedestrian')
    np.testing.assert_array_equal(
        shared_lut('nuimages')[:12], [0, 2, 3, 255, 4, 255, 6, 5, 7, 255, 255, 1])
    np.testing.assert_array_equal(
        shared_lut('cityscapes')[:19],
        [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 7, 2, 3, 4, 255, 5, 6])
    synthetic = dict(zip(label_space('synthetic'), shared_lut('synthetic').tolist()))
    assert synthetic['driveable_surface'] == 1 and synthetic['sky'] == 0
    assert synthetic['trailer'] == 255 and synthetic['pedestrian'] == 7
    assert len(label_space('synthetic')) == len(SEMANTIC_CLASSES)
    # ids past the classes, and the ignore value itself, stay ignored
    assert shared_lut('cityscapes')[19] == 255 and shared_lut('cityscapes')[255] == 255
    assert label_space('cityscapes') == CITYSCAPES_CLASSES
    with pytest.raises(ValueError, match='mapillary'):
        label_space('mapillary')


def test_label_lut_refuses_unknown_targets():
    lut = label_lut(('a', 'b', 'c'), ('x', 'y'), {'a': 'y', 'c': 'x'})
    assert lut[:4].tolist() == [1, 255, 0, 255]
    with pytest.raises(ValueError, match="'z'"):
        label_lut(('a', ), ('x', ), {'a': 'z'})
