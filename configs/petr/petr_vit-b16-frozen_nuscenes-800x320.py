# PETR on nuScenes (800x320, 20 epochs cyclic) with the frozen S3PT ViT-B/16 teacher backbone.
_base_ = [
    '../_base_/models/petr_vit-b16.py',
    '../_base_/datasets/nuscenes_petr_800x320.py',
    '../_base_/schedules/cyclic_20e.py',
    '../_base_/det3d_runtime.py',
]
# The pre-training Runner checkpoint (configs/s3pt/vit-b16_nuscenes.py, 100 epochs).
model = dict(img_backbone=dict(backbone=dict(init_cfg=dict(
    type='Pretrained',
    checkpoint='work_dirs/vit-b16_nuscenes/epoch_100.pth',
    prefix='teacher.module.backbone.'))))
