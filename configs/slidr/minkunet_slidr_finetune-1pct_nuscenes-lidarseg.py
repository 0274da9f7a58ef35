# Same protocol as CSC's, from a SLidR checkpoint (converted the same way).
_base_ = ['../csc/minkunet_csc_finetune-1pct_nuscenes-lidarseg.py']
pretrained = 'slidr_minkunet.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
