# AdamW, 10 warm-up epochs then cosine to 1e-5; weight decay 0.04 -> 0.4 (cosine).
# fp32 here so CPU runs work as written; the paper's fp16 is `tools/train.py --amp`
# (AmpOptimWrapper, dynamic loss scale). The learning rate is for a total batch of 256
# (`tools/train.py --auto-scale-lr` scales it to the real one).
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='StudentOptimWrapperConstructor',  # the EMA teacher is not optimised
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.04),
    # DINO: no weight decay on biases and normalisation parameters.
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0),
)
# The cosine phases have no `end`/`T_max`: mmengine ends them at train_cfg.max_epochs, so a
# `--cfg-options train_cfg.max_epochs=N` override rescales them (DINO's cosine_scheduler:
# absolute warm-up epochs, cosine over the rest). ScheduleFitHook warns when N <= 10.
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10,
         convert_to_iter_based=True),
    # eta_min_ratio keeps the no-decay groups at 0 while 0.04 grows to 0.4.
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         by_epoch=True, begin=0, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=500)
auto_scale_lr = dict(base_batch_size=256)
custom_hooks = [
    dict(type='S3PTScheduleHook', warmup_teacher_temp=0.04, teacher_temp=0.07,
         teacher_temp_warmup_epochs=30, freeze_last_layer_epochs=1, cross_image_start_epoch=1),
]
