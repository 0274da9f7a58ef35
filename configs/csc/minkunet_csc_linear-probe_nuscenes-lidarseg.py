# Linear probing: the CSC-pre-trained MinkUNet frozen (FrozenVoxelBackbone), only the linear
# MinkUNetHead trained, on all labelled scans.
_base_ = [
    '../_base_/models/minkunet_spconv_nuscenes_lidarseg.py',
    '../_base_/datasets/nuscenes_lidarseg.py',
    '../_base_/schedules/minkunet_finetune_sgd_100e.py', '../_base_/det3d_runtime.py'
]
pretrained = 'csc_minkunet.pth'
model = dict(backbone=dict(
    _delete_=True,
    type='FrozenVoxelBackbone',
    backbone=dict(
        type='MinkUNetBackbone', in_channels=4, num_stages=4, base_channels=32,
        encoder_channels=[32, 64, 128, 256], encoder_blocks=[2, 2, 2, 2],
        decoder_channels=[256, 128, 96, 96], decoder_blocks=[2, 2, 2, 2], block_type='basic',
        sparseconv_backend='spconv',
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.'))))
optim_wrapper = dict(optimizer=dict(lr=0.05))
default_hooks = dict(visualization=None)
