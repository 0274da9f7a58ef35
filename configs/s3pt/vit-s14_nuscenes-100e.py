# S3PT, ViT-S/14, 100 epochs (supplementary Tab. 5): 16 x 16 tokens per 224 crop.
_base_ = [
    '../_base_/models/s3pt_vit-s16.py',
    '../_base_/datasets/nuscenes_s3pt.py',
    '../_base_/schedules/adamw_100e.py',
    '../_base_/default_runtime.py',
]
model = dict(backbone=dict(patch_size=14))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPrecomputedDepth'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=224,
         global_crop_scale=(0.25, 1.0), num_local_crops=0, with_depth=True, patch_size=14),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
