# S3PT, ViT-S/32, 100 epochs (supplementary Tab. 5): 7 x 7 tokens per crop, so k = 32 clusters.
_base_ = [
    '../_base_/models/s3pt_vit-s16.py',
    '../_base_/datasets/nuscenes_s3pt.py',
    '../_base_/schedules/adamw_100e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(patch_size=32), assigner=dict(num_clusters=32))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPrecomputedDepth'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=224,
         global_crop_scale=(0.25, 1.0), num_local_crops=0, with_depth=True, patch_size=32),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
