# CSC pre-training of MinkUNet on nuScenes (paper setting; docs/csc.md). Set s3pt_checkpoint:
#   python tools/train.py configs/csc/csc_minkunet_vit-s16_nuscenes_50e.py \
#     --cfg-options model.image_backbone.backbone.init_cfg.checkpoint=work_dirs/s3pt/epoch_500.pth
_base_ = [
    '../_base_/models/csc_minkunet_vit-s16.py', '../_base_/datasets/nuscenes_csc_pretrain.py',
    '../_base_/schedules/csc_sgd_50e.py', '../_base_/det3d_runtime.py'
]
# Sets the epoch and rebuilds the prototypes (no-grad pass) before every epoch >= 5.
custom_hooks = [dict(type='CSCPrototypeHook')]
default_hooks = dict(visualization=None)
