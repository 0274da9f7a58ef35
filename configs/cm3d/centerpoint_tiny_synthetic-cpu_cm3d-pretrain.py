# CM3D on the synthetic scenes, CPU size: the tiny CenterPoint trained on the pseudo-labels of
# tools/cm3d/generate_pseudo_labels.py (benchmarks/cm3d_finetune.py runs this chain).
_base_ = [
    '../_base_/models/centerpoint_tiny_cpu.py',
    '../_base_/datasets/synthetic_nuscenes_lidar_centerpoint.py',
    '../_base_/det3d_runtime.py',
]
train_dataloader = dict(dataset=dict(ann_file='cm3d_infos_train.pkl'))
lr = 1e-3
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=lr, weight_decay=0.01),
                     clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=20, eta_min=lr * 1e-2, by_epoch=True,
                        begin=0, end=20, convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=20)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(interval=5), visualization=dict(type='Det3DVisualizationHook'))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
