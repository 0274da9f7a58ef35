# DINO baseline views: 2 global + 10 local crops, no depth (docs/method.md §1).
# CrIBo (2 global, no local, no depth): set num_local_crops=0 in a leaf.
_base_ = ['./nuscenes_s3pt.py']

local_crop_size = 96
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiCropWithDepth',
        num_global_crops=2,
        global_crop_size={{_base_.global_crop_size}},
        global_crop_scale={{_base_.global_crop_scale}},
        num_local_crops=10,
        local_crop_size=local_crop_size,
        local_crop_scale=(0.05, 0.25),
        with_depth=False,
        patch_size={{_base_.patch_size}}),
    dict(
        type='PackInputs',
        algorithm_keys=['token_pos'],
        meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]

train_dataloader = dict(dataset=dict(depth_prefix=None, pipeline=train_pipeline))
