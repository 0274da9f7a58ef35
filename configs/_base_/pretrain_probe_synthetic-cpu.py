# The one budget `benchmarks/pretrain_probe.py` gives DINO, CrIBo and S3PT on a 2-core CPU
# (README "Does pre-training learn?"). Every method's leaf config inherits its method's model
# base and this file, and applies the `probe_*` pieces below to its model: same scenes, same
# images seen (batch x iterations), same backbone, same crops, same optimiser and schedules.
# Scaled from the paper (ViT-S/16, 224² crops, 100-500 epochs of nuScenes) to minutes of CPU:
# - a 4-layer ViT (128 channels) with 8-pixel patches: 64² crops give 8x8 = 64 tokens per view,
#   and an 8-pixel token keeps the synthetic scenes' small and distant road users visible;
# - global crop scale (0.1, 0.5) of the 256x144 images instead of (0.25, 1.0): a crop is
#   resized to 64² by a factor 0.6-1.4, so the probes, which run on the whole image at its own
#   resolution, see objects at the scale pre-training saw them (with (0.25, 1.0) the factor
#   would be 0.3-0.7 and every object twice the size at evaluation);
# - 1024 prototypes, teacher momentum 0.98 -> 1 (EMA horizon ~50 of the 96 iterations);
# - batch 16, 4 epochs of the 384 training images, data loaded in the training process: what a
#   2-core machine shared with other jobs runs in ~3 min per method and seed (README).
_base_ = ['./datasets/nuscenes_s3pt.py', './default_runtime.py']

data_root = 'data/pretrain_probe/'
patch_size = 8
global_crop_size = 64
global_crop_scale = (0.1, 0.5)
max_epochs = 4  # 4 x 24 = 96 iterations of 16 images (1,536 images seen per method)
warmup_epochs = 1

probe_backbone = dict(
    arch=dict(_delete_=True, embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512),
    img_size=global_crop_size, patch_size=patch_size, drop_path_rate=0.0)
probe_head = dict(in_channels=128, out_channels=1024, hidden_channels=512, bottleneck_channels=128)
probe_base_momentum = 0.02

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPrecomputedDepth'),
    dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=global_crop_size,
         global_crop_scale=global_crop_scale, num_local_crops=0, with_depth=True,
         patch_size=patch_size),
    dict(type='PackInputs', algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
         meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(data_root=data_root, depth_prefix='depth_completed', pipeline=train_pipeline))

optim_wrapper = dict(
    type='OptimWrapper',
    constructor='StudentOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.04),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-5, by_epoch=True,
         begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         T_max=max_epochs, by_epoch=True, begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
custom_hooks = [
    dict(type='S3PTScheduleHook', warmup_teacher_temp=0.04, teacher_temp=0.07,
         teacher_temp_warmup_epochs=max_epochs // 3, freeze_last_layer_epochs=1,
         cross_image_start_epoch=1),
]
default_hooks = dict(logger=dict(type='LoggerHook', interval=24),
                     checkpoint=dict(type='CheckpointHook', interval=max_epochs))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
