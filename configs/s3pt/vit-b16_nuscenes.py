# S3PT, ViT-B/16, 100 epochs (Tab. 3, right column); global crops scale [0.32, 1.0].
_base_ = [
    '../_base_/models/s3pt_vit-b16.py',
    '../_base_/datasets/nuscenes_s3pt.py',
    '../_base_/schedules/adamw_100e_vit-b.py',
    '../_base_/default_runtime.py',
]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPrecomputedDepth'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=224,
         global_crop_scale=(0.32, 1.0), num_local_crops=0, with_depth=True, patch_size=16),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
