_base_ = ['../csc/minkunet_csc_linear-probe_nuscenes-lidarseg.py']
pretrained = 'slidr_minkunet.pth'
model = dict(backbone=dict(backbone=dict(init_cfg=dict(checkpoint=pretrained))))
