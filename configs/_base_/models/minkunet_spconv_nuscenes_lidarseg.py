# MinkUNet (mmdet3d's MinkUNet34-like width-32 UNet, spconv backend, CPU-safe voxelisation) for the
# 16 nuScenes-lidarseg classes: the downstream model of CSC / SLidR (docs/csc.md §8).
model = dict(
    type='MinkUNet',
    data_preprocessor=dict(
        type='CPUSafeDet3DDataPreprocessor',
        voxel=True,
        voxel_type='minkunet',
        batch_first=True,  # spconv wants (batch, z, y, x)
        max_voxels=80000,
        voxel_layer=dict(
            max_num_points=-1,
            point_cloud_range=[-100, -100, -20, 100, 100, 20],
            voxel_size=[0.1, 0.1, 0.1],  # the reference's 0.1 m voxels
            max_voxels=(-1, -1))),
    backbone=dict(
        type='MinkUNetBackbone',
        in_channels=4,
        num_stages=4,
        base_channels=32,
        encoder_channels=[32, 64, 128, 256],
        encoder_blocks=[2, 2, 2, 2],
        decoder_channels=[256, 128, 96, 96],
        decoder_blocks=[2, 2, 2, 2],
        block_type='basic',
        sparseconv_backend='spconv'),
    decode_head=dict(
        type='MinkUNetHead',
        channels=96,
        num_classes=16,
        dropout_ratio=0,
        loss_decode=dict(type='mmdet.CrossEntropyLoss', avg_non_ignore=True),
        ignore_index=16),
    train_cfg=dict(),
    test_cfg=dict())
