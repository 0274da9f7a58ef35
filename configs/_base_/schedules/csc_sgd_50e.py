# The reference's pre-training schedule: SGD lr 2.0 (batch 16), momentum 0.9, dampening 0.1,
# weight decay 1e-4, cosine over 50 epochs.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=2.0, momentum=0.9, dampening=0.1, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=50, by_epoch=True, begin=0, end=50)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50)
auto_scale_lr = dict(enable=False, base_batch_size=16)
