"""Fixtures of the CSC tests: one tiny synthetic dataset and a tiny CSC model config."""
import pytest

from s3pt_mm.synthetic import SyntheticConfig, generate_dataset


@pytest.fixture(scope='session')
def csc_synthetic_root(tmp_path_factory):
    """1 scene x 2 samples of 192x108 cameras (train pkl: the scene; no val scene)."""
    root = tmp_path_factory.mktemp('csc_synthetic')
    generate_dataset(str(root), SyntheticConfig(num_scenes=1, samples_per_scene=2, seed=5,
                                                image_size=(192, 108), num_val_scenes=0))
    return root


def tiny_csc_model_cfg(use_prototype_loss=True, start_epoch=1):
    """A CSCPretrainer small enough for CPU tests (MinkUNet width 8, one-layer ViT)."""
    return dict(
        type='CSCPretrainer',
        data_preprocessor=dict(
            type='CSCDataPreprocessor',
            points_preprocessor=dict(
                type='CPUSafeDet3DDataPreprocessor', voxel=True, voxel_type='minkunet',
                batch_first=True, max_voxels=None,
                voxel_layer=dict(max_num_points=-1, point_cloud_range=[-100, -100, -20, 100,
                                                                       100, 20],
                                 voxel_size=[0.5, 0.5, 0.5], max_voxels=(-1, -1)))),
        backbone=dict(type='MinkUNetBackbone', in_channels=4, base_channels=8, num_stages=2,
                      encoder_channels=[8, 16], encoder_blocks=[1, 1],
                      decoder_channels=[16, 8], decoder_blocks=[1, 1],
                      sparseconv_backend='spconv'),
        backbone_channels=8,
        image_backbone=dict(
            type='FrozenBackbone',
            backbone=dict(type='mmpretrain.VisionTransformer',
                          arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                    feedforward_channels=64),
                          img_size=(32, 64), patch_size=16, out_type='featmap')),
        image_channels=32, patch_size=16, feat_channels=16,
        criterion=dict(num_prototypes=10, hidden=16, start_epoch=start_epoch,
                       use_prototype_loss=use_prototype_loss))


def tiny_dataset_cfg(root, source='semantic'):
    superpixels = (dict(type='semantic', num_classes=10, label_map='synthetic_2d')
                   if source == 'semantic' else dict(type='slic', n_segments=20))
    return dict(type='CSCPairedDataset', ann_file=str(root / 'nuscenes_infos_train.pkl'),
                superpixels=superpixels, img_size=(32, 64),
                cameras=['CAM_FRONT', 'CAM_BACK'])


@pytest.fixture
def csc_cfgs():
    """The two config builders above, for the tests (test folders are not packages)."""
    return type('CSCConfigs', (), dict(model=staticmethod(tiny_csc_model_cfg),
                                        dataset=staticmethod(tiny_dataset_cfg)))
