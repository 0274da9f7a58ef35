"""Fixtures of the PETR tests: registries, a small synthetic dataset, tiny PETR configs.

Test folders are not packages, so helpers shared by the files below live here as fixtures
(factories where a test needs parameters).
"""
import copy
import pickle
from pathlib import Path
from typing import Callable, Optional, Sequence

import pytest
import torch

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
CLASSES = ['car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle',
           'bicycle', 'pedestrian', 'traffic_cone']
REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'


@pytest.fixture(scope='session')
def det3d():
    """``s3pt_mm.det3d`` imported (registers PETR) with mmdet3d as the default scope."""
    from mmengine.registry import init_default_scope

    import s3pt_mm.det3d as det3d
    init_default_scope('mmdet3d')
    return det3d


@pytest.fixture
def single_thread():
    """One intra-op thread while the test runs: tiny tensors are much faster without
    thread hand-offs, especially on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='session')
def real_keyframe_info(nuscenes_sample_dir) -> dict:
    """The real keyframe's mmdet3d info entry."""
    with open(nuscenes_sample_dir / REAL_PKL, 'rb') as f:
        return pickle.load(f)['data_list'][0]


@pytest.fixture(scope='session')
def synthetic_petr_root(tmp_path_factory) -> Path:
    """2 scenes x 2 samples of synthetic nuScenes at 320x180 (train: scene 0, val: scene 1)."""
    from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
    root = tmp_path_factory.mktemp('synthetic_petr')
    generate_dataset(str(root), SyntheticConfig(num_scenes=2, samples_per_scene=2, seed=0,
                                                image_size=(320, 180)))
    return root


@pytest.fixture(scope='session')
def tiny_petr_cfg(repo_root, det3d) -> Callable[..., dict]:
    """Factory: the real ``configs/_base_/models/petr_vit-s16.py`` shrunk for CPU tests.

    A random 2-layer ViT (64 channels, frozen), 64-channel head, ``num_queries`` queries,
    ``num_layers`` decoder layers, 16 depth bins; ``pc_range`` half-width ``half_range``.
    """
    from mmengine.config import Config
    base = Config.fromfile(str(repo_root / 'configs/_base_/models/petr_vit-s16.py')).model

    def make(num_queries: int = 30, num_layers: int = 2, half_range: float = 51.2,
             img_hw: Sequence[int] = (64, 160), grid_mask: bool = False,
             vit_drop: float = 0.0) -> dict:
        cfg = copy.deepcopy(base.to_dict())
        if not grid_mask:
            cfg['grid_mask'] = None
        cfg['img_backbone']['backbone'].update(
            arch=dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=128),
            img_size=tuple(img_hw), drop_rate=vit_drop, drop_path_rate=vit_drop)
        cfg['img_neck'].update(in_channels=[64], out_channels=64,
                               norm_cfg=dict(type='GN', num_groups=8))
        r = half_range
        head = cfg['pts_bbox_head']
        head.update(in_channels=64, embed_dims=64, num_queries=num_queries,
                    num_layers=num_layers, num_heads=4, feedforward_channels=128, dropout=0.0,
                    pc_range=[-r, -r, -5.0, r, r, 3.0])
        head['position_embedding'].update(
            depth_num=16, position_range=[-r - 10, -r - 10, -10.0, r + 10, r + 10, 10.0])
        head['bbox_coder'].update(max_num=min(300, num_queries * 10), post_center_range=None)
        return cfg

    return make


@pytest.fixture(scope='session')
def build_petr_dataset(det3d) -> Callable[..., object]:
    """Factory: an mmdet3d ``NuScenesDataset`` with the PETR pipeline at a small size."""
    from mmdet3d.registry import DATASETS

    def make(data_root: Path, ann_file: str, final_hw: Sequence[int] = (64, 160),
             train: bool = True, augment: bool = False,
             data_prefix: Optional[dict] = None, **dataset_kwargs):
        if data_prefix is None:  # mmdet3d's layout: sensor files under samples/<CHANNEL>
            data_prefix = dict(pts='samples/LIDAR_TOP', **{c: f'samples/{c}' for c in CAMERAS})
        pipeline = [dict(type='LoadMultiViewImageFromFiles', num_views=6)]
        if train:
            pipeline += [dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True,
                              with_attr_label=False),
                         dict(type='ObjectNameFilter', classes=CLASSES)]
        pipeline += [dict(type='MultiViewResizeCropFlip', final_hw=tuple(final_hw),
                          test_mode=not augment, flip_prob=0.5),
                     dict(type='Pack3DDetInputs',
                          keys=['img', 'gt_bboxes_3d', 'gt_labels_3d'] if train else ['img'])]
        return DATASETS.build(dict(
            type='NuScenesDataset', data_root=str(data_root), ann_file=ann_file,
            data_prefix=data_prefix, pipeline=pipeline, metainfo=dict(classes=CLASSES),
            modality=dict(use_lidar=False, use_camera=True), test_mode=not train,
            box_type_3d='LiDAR', **dataset_kwargs))

    return make


@pytest.fixture(scope='session')
def real_prefix() -> dict:
    """``data_prefix`` of the real keyframe folder (all files side by side)."""
    return dict(pts='', **{c: '' for c in CAMERAS})
