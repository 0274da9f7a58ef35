# mmdet3d's cyclic-20e schedule with S3PT's PETR settings (supplementary Tab. 4): AdamW lr 3e-4,
# weight decay 0.01, gradient clipping 35, no fp16. Learning rate: cosine from lr up to 10 lr
# over the first 8 epochs (40 %), then down to 1e-4 lr; momentum (AdamW beta1) 0.85/0.95 of its
# value -> 1 in step with it. The phases are absolute epochs (8 + 12): with another
# train_cfg.max_epochs, ScheduleFitHook warns that they no longer fit; set them for that length.
lr = 3e-4
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01),
    clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=8, eta_min=lr * 10, begin=0, end=8, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=12, eta_min=lr * 1e-4, begin=8, end=20,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=8, eta_min=0.85 / 0.95, begin=0, end=8,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingMomentum', T_max=12, eta_min=1, begin=8, end=20, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# Tab. 4's batch: 2 per GPU on 8 GPUs.
auto_scale_lr = dict(enable=False, base_batch_size=16)
