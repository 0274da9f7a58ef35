# Segmenter's schedule as mmseg ships it (SGD, momentum 0.9, no weight decay, poly decay),
# 160k iterations (supplementary §1.2.1). tools/lr_sweep.py sweeps optim_wrapper.optimizer.lr over
# {8e-4, 3e-4, 8e-5}; the default is the first.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=8e-4, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
# eta_min 0: mmseg's 1e-4 is above the smallest swept lr and would make the "decay" rise.
# No `end`: mmengine ends the decay at train_cfg.max_iters, so an override rescales it.
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=160000, val_interval=16000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the latest and the best-mIoU checkpoint; tools/lr_sweep.py reads the best mIoU.
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=16000, max_keep_ckpts=1,
                    save_best='mIoU', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
