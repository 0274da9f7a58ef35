# PETR with the frozen S3PT ViT-S/16 on the synthetic nuScenes-format scenes (pipeline check).
_base_ = [
    '../_base_/models/petr_vit-s16.py',
    '../_base_/datasets/synthetic_nuscenes_petr_800x320.py',
    '../_base_/schedules/cyclic_20e.py',
    '../_base_/det3d_runtime.py',
]
model = dict(img_backbone=dict(backbone=dict(init_cfg=dict(
    type='Pretrained',
    checkpoint='work_dirs/vit-s16_nuscenes/epoch_500.pth',
    prefix='teacher.module.backbone.'))))
