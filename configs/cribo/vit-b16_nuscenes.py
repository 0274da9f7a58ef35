# CrIBo baseline, ViT-B/16, 100 epochs (Tab. 2): norm last layer on, crops scale [0.32, 1.0].
_base_ = [
    '../_base_/models/s3pt_vit-b16.py',
    '../_base_/datasets/nuscenes_cribo.py',
    '../_base_/schedules/adamw_100e_vit-b.py',
    '../_base_/default_runtime.py',
]
model = dict(
    head=dict(use_vmf=False, centering='logit', norm_last_layer=True),
    assigner=dict(num_clusters=32, sinkhorn_iterations=5, alpha_depth=(0.0, 0.0)),
    queue=dict(queue_size=25000),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=224,
         global_crop_scale=(0.32, 1.0), num_local_crops=0, with_depth=False, patch_size=16),
    dict(type='PackInputs', algorithm_keys=['token_pos'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
