"""Downstream pieces: lidarseg dataset, label subsets, checkpoint conversion (docs/csc.md §8)."""
import pickle

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.registry import init_default_scope

from s3pt_mm.csc.convert import csc_to_minkunet
from s3pt_mm.csc.label_subset import label_subset_indices, write_label_subset
from s3pt_mm.synthetic.point_labels import lidarseg_path


def test_synthetic_lidarseg_dataset_loads_point_labels(csc_synthetic_root):
    init_default_scope('mmdet3d')  # the pipeline's transforms live in mmdet3d's registry
    pipeline = [
        dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
             with_seg_3d=True, seg_3d_dtype='np.uint8'),
        dict(type='PointSegClassMapping'),
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])]
    ds = DATASETS.build(dict(type='NuScenesLidarSegDataset', label_source='synthetic',
                             data_root=str(csc_synthetic_root),
                             ann_file='nuscenes_infos_train.pkl', pipeline=pipeline))
    item = ds[0]
    mask = item['data_samples'].gt_pts_seg.pts_semantic_mask
    raw = np.fromfile(lidarseg_path(csc_synthetic_root, ds.get_data_info(0)['lidar_path']),
                      np.uint8)
    assert item['inputs']['points'].shape == (len(raw), 4)
    np.testing.assert_array_equal(np.asarray(mask), raw)  # identity map for 0-15
    assert ds.metainfo['classes'][3] == 'car'


def test_nuscenes_label_mapping_and_missing_mask_path(tmp_path):
    ds_cls = DATASETS.get('NuScenesLidarSegDataset')
    mapping = ds_cls.get_seg_label_mapping(type('D', (), dict(label_source='nuscenes'))())
    assert mapping[17] == 3 and mapping[15] == mapping[16] == 2 and mapping[0] == 16
    with pytest.raises(ValueError, match='label_source'):
        ds_cls(label_source='kitti')


def test_label_subset_is_seeded_and_at_least_one(tmp_path):
    assert len(label_subset_indices(10, 0.01, 0)) == 1
    assert label_subset_indices(1000, 0.01, 3) == label_subset_indices(1000, 0.01, 3)
    assert len(set(label_subset_indices(1000, 0.05, 3))) == 50
    src = tmp_path / 'infos.pkl'
    with open(src, 'wb') as f:
        pickle.dump(dict(metainfo=dict(version='x'), data_list=[dict(i=i) for i in range(200)]),
                    f)
    kept, total = write_label_subset(str(src), str(tmp_path / 'sub.pkl'), 0.01, seed=1)
    assert (kept, total) == (2, 200)
    with pytest.raises(ValueError, match='fraction'):
        label_subset_indices(10, 0.0)


def test_converted_weights_load_into_minkunet(csc_cfgs):
    init_default_scope('mmdet3d')
    pre = MODELS.build(csc_cfgs.model())
    weights, counts = csc_to_minkunet(pre.state_dict())
    assert counts['kept'] == len(pre.backbone.state_dict()) and counts['dropped'] > 0
    seg = MODELS.build(dict(
        type='MinkUNet', data_preprocessor=csc_cfgs.model()['data_preprocessor'][
            'points_preprocessor'],
        backbone=csc_cfgs.model()['backbone'],
        decode_head=dict(type='MinkUNetHead', channels=8, num_classes=16, ignore_index=16)))
    missing, unexpected = seg.load_state_dict(weights, strict=False)
    assert not unexpected and all(k.startswith('decode_head.') for k in missing)
    for key, value in pre.backbone.state_dict().items():
        torch.testing.assert_close(seg.backbone.state_dict()[key], value)
    with pytest.raises(ValueError, match='unexpected key'):
        csc_to_minkunet({'backbone.a': torch.zeros(1), 'head.b': torch.zeros(1)})


def test_converted_file_loads_through_pretrained_init_cfg(csc_cfgs, tmp_path):
    """The configs' path: ``init_cfg=Pretrained(prefix='backbone.')`` on MinkUNetBackbone."""
    init_default_scope('mmdet3d')
    pre = MODELS.build(csc_cfgs.model())
    weights, _ = csc_to_minkunet(pre.state_dict())
    torch.save({'state_dict': weights}, tmp_path / 'csc_minkunet.pth')
    backbone = MODELS.build(dict(csc_cfgs.model()['backbone'], init_cfg=dict(
        type='Pretrained', checkpoint=str(tmp_path / 'csc_minkunet.pth'), prefix='backbone.')))
    backbone.init_weights()
    for key, value in pre.backbone.state_dict().items():
        torch.testing.assert_close(backbone.state_dict()[key], value)
