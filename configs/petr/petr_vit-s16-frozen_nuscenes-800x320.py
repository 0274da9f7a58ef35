# PETR on nuScenes (800x320, 20 epochs cyclic) with the frozen S3PT ViT-S/16 teacher backbone.
_base_ = [
    '../_base_/models/petr_vit-s16.py',
    '../_base_/datasets/nuscenes_petr_800x320.py',
    '../_base_/schedules/cyclic_20e.py',
    '../_base_/det3d_runtime.py',
]
# The pre-training Runner checkpoint (configs/s3pt/vit-s16_nuscenes.py); the EMA teacher's
# backbone sits under 'teacher.module.backbone.'. Override with --cfg-options
# model.img_backbone.backbone.init_cfg.checkpoint=PATH (DINO / CrIBo checkpoints alike).
model = dict(img_backbone=dict(backbone=dict(init_cfg=dict(
    type='Pretrained',
    checkpoint='work_dirs/vit-s16_nuscenes/epoch_500.pth',
    prefix='teacher.module.backbone.'))))
