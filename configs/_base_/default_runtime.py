# Runtime shared by every pre-training config: registries, hooks, logging, TensorBoard.
default_scope = 'mmpretrain'
custom_imports = dict(imports=['s3pt_mm'], allow_failed_imports=False)

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Resume safety (docs/resuming.md): refuse a checkpoint of another model/optimizer, seed
    # torch per iteration (drop path), stop at the first non-finite loss before a checkpoint
    # records it, warn when the schedules do not fit max_epochs.
    checkpoint_compatibility=dict(type='CheckpointCompatibilityHook'),
    iteration_seed=dict(type='IterationSeedHook'),
    non_finite_loss=dict(type='NonFiniteLossHook'),
    schedule_fit=dict(type='ScheduleFitHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# Scalars (every loss, teacher entropy, cluster counts, cycle-consistency, κ) go to TensorBoard.
vis_backends = [dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]
visualizer = dict(type='UniversalVisualizer', vis_backends=vis_backends)
log_processor = dict(window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, diff_rank_seed=True)
