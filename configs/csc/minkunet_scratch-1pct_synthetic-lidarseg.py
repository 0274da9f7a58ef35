# Random-init baseline on the synthetic scenes (1 % of the labelled scans).
_base_ = [
    '../_base_/models/minkunet_spconv_nuscenes_lidarseg.py',
    '../_base_/datasets/synthetic_lidarseg.py',
    '../_base_/schedules/minkunet_finetune_sgd_100e.py', '../_base_/det3d_runtime.py'
]
train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_1pct.pkl'))
default_hooks = dict(visualization=None)
