# Fine-tune a CSC-pre-trained MinkUNet on 1 % of the nuScenes-lidarseg scans. First:
#   python tools/model_converters/csc_to_minkunet.py work_dirs/csc/epoch_50.pth csc_minkunet.pth
#   python tools/csc/make_label_subset.py data/nuscenes/nuscenes_infos_train.pkl \
#       data/nuscenes/nuscenes_infos_train_1pct.pkl --fraction 0.01
_base_ = [
    '../_base_/models/minkunet_spconv_nuscenes_lidarseg.py',
    '../_base_/datasets/nuscenes_lidarseg.py',
    '../_base_/schedules/minkunet_finetune_sgd_100e.py', '../_base_/det3d_runtime.py'
]
pretrained = 'csc_minkunet.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_1pct.pkl'))
default_hooks = dict(visualization=None)
