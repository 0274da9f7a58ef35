# CrIBo views: 2 global crops with token positions, no depth, no local crops (Tab. 2).
_base_ = ['./nuscenes_s3pt.py']

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiCropWithDepth',
        num_global_crops=2,
        global_crop_size={{_base_.global_crop_size}},
        global_crop_scale={{_base_.global_crop_scale}},
        num_local_crops=0,
        with_depth=False,
        patch_size={{_base_.patch_size}}),
    dict(
        type='PackInputs',
        algorithm_keys=['token_pos'],
        meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]

train_dataloader = dict(dataset=dict(depth_prefix=None, pipeline=train_pipeline))
