# Runtime of the 3D detection configs (mmdet3d scope; s3pt_mm registers PETR and its parts).
default_scope = 'mmdet3d'
# s3pt_mm: pre-training modules; det3d: PETR and its parts; datasets.transforms3d: the checked
# LiDAR loaders; csc: the CSC / SLidR LiDAR models, datasets and hooks (all mmdet3d registries).
custom_imports = dict(
    imports=['s3pt_mm', 's3pt_mm.det3d', 's3pt_mm.datasets.transforms3d', 's3pt_mm.csc'],
    allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='Det3DVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='Det3DLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
