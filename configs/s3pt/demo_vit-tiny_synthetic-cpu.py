# `make demo`: S3PT on synthetic scenes made by tools/create_synthetic_nuscenes.py, on a CPU, in
# a few minutes. Same model, losses, depth pipeline and schedules as the real config, scaled
# down: a 4-layer ViT, 96² crops (36 tokens per view), 16 clusters, 1024 prototypes, and two
# values changed for a run of ~50 iterations on 54 images (measured, see README "Demo"):
# - teacher momentum 0.95 instead of 0.996: the EMA horizon must fit the run (with 0.996 the
#   teacher would still be 80 % its random initialisation at the end);
# - teacher temperature 0.03 throughout instead of 0.04 -> 0.07. With so few images the
#   teacher's outputs differ little between images; once centred, the paper's temperatures
#   leave near-uniform targets (teacher entropy -> ln 1024 = 6.93, the loss rises with the
#   warm-up and never falls). 0.02 goes the other way: every image on one prototype (loss
#   -> 0.1, a collapse). At 0.03 the targets stay between (entropy ~5) and the loss falls.
_base_ = [
    '../_base_/models/s3pt_vit-s16.py',
    '../_base_/datasets/nuscenes_s3pt.py',
    '../_base_/default_runtime.py',
]
data_root = 'data/synthetic_demo/'
crop = 96
max_epochs = 12
teacher_temp = 0.03

model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=128, num_layers=4, num_heads=4,
                            feedforward_channels=512),
                  img_size=crop, drop_path_rate=0.0),
    head=dict(in_channels=128, out_channels=1024, hidden_channels=512, bottleneck_channels=128,
              teacher_temp=teacher_temp),
    assigner=dict(num_clusters=16),
    queue=dict(queue_size=256),
    base_momentum=0.05,
)

# Depth is computed online (LiDAR -> z-buffer -> IP-Basic) so the demo needs no preparation.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadLidarPoints'),
    dict(type='ProjectLidarToDepth'),
    dict(type='CompleteDepth', method='fill_in_fast', extrapolate=True, blur_type='bilateral'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=crop,
         global_crop_scale=(0.25, 1.0), num_local_crops=0, with_depth=True, patch_size=16),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(data_root=data_root, ann_file='nuscenes_infos_train.pkl', depth_prefix=None,
                 pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.04),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=2,
         convert_to_iter_based=True),  # ends at max_epochs (also when overridden)
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         by_epoch=True, begin=0, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(type='S3PTScheduleHook', warmup_teacher_temp=teacher_temp, teacher_temp=teacher_temp,
         teacher_temp_warmup_epochs=1, freeze_last_layer_epochs=1, cross_image_start_epoch=1),
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', interval=max_epochs))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
