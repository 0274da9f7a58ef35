"""SyntheticDrivingSegDataset reads the generator's layout: one item per sample and camera."""
import shutil
from pathlib import Path

import numpy as np
import pytest
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS
from PIL import Image

from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def _build(root, **kwargs):
    with DefaultScope.overwrite_default_scope('mmseg'):
        return DATASETS.build(dict(type='SyntheticDrivingSegDataset', data_root=str(root),
                                   pipeline=PIPELINE, **kwargs))


def test_splits_cameras_and_labels(synthetic_seg_root, seg_scenes):
    train = _build(synthetic_seg_root)
    val = _build(synthetic_seg_root, ann_file='nuscenes_infos_val.pkl')
    per_scene = seg_scenes.samples_per_scene * 6
    assert len(train) == (seg_scenes.num_scenes - 1) * per_scene and len(val) == per_scene
    train_images = {train.get_data_info(i)['img_path'] for i in range(len(train))}
    val_images = {val.get_data_info(i)['img_path'] for i in range(len(val))}
    assert len(train_images) == len(train) and len(val_images) == len(val)
    assert not train_images & val_images
    assert train.metainfo['classes'] == tuple(c.name for c in SEMANTIC_CLASSES)
    assert [tuple(c) for c in train.metainfo['palette']] == [c.color for c in SEMANTIC_CLASSES]
    item = val[7]
    sample = item['data_samples']
    img_path, seg_path = Path(sample.img_path), Path(sample.seg_map_path)
    assert img_path.parent.parent.name == 'samples' and seg_path.parent.parent.name == 'semseg'
    assert img_path.parent.name == seg_path.parent.name and img_path.stem == seg_path.stem
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(), np.array(Image.open(seg_path)))
    assert item['inputs'].shape[1:] == (144, 256)
    front = _build(synthetic_seg_root, ann_file='nuscenes_infos_val.pkl', cameras=['CAM_FRONT'])
    assert len(front) == seg_scenes.samples_per_scene
    assert all('/CAM_FRONT/' in front.get_data_info(i)['img_path'] for i in range(len(front)))


def test_errors_name_the_missing_piece(synthetic_seg_root, tmp_path):
    with pytest.raises(FileNotFoundError, match='create_synthetic_nuscenes'):
        _build(tmp_path)
    with pytest.raises(ValueError, match='CAM_TOP'):
        _build(synthetic_seg_root, cameras=['CAM_TOP'])
    copy = tmp_path / 'copy'
    shutil.copytree(synthetic_seg_root, copy, ignore=shutil.ignore_patterns('*.npy', '*.bin'))
    label = copy / Path(_build(synthetic_seg_root).get_data_info(0)['seg_map_path']).relative_to(
        synthetic_seg_root)
    label.unlink()
    with pytest.raises(FileNotFoundError, match=label.name):
        _build(copy, ann_file='nuscenes_infos_train.pkl')
