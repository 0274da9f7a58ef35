# ViT-B/16 pre-training (Tabs. 1-3, right column): lr 7.5e-4 -> 2e-6, grad clip 0.3,
# teacher temperature warm-up 50 epochs, last layer frozen 3 epochs.
_base_ = ['./adamw_100e.py']
optim_wrapper = dict(optimizer=dict(lr=7.5e-4), clip_grad=dict(max_norm=0.3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-6, by_epoch=True, begin=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingParamScheduler', param_name='weight_decay', eta_min_ratio=10.0,
         by_epoch=True, begin=0, convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='S3PTScheduleHook', warmup_teacher_temp=0.04, teacher_temp=0.07,
         teacher_temp_warmup_epochs=50, freeze_last_layer_epochs=3, cross_image_start_epoch=1),
]
