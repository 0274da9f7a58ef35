# CrIBo baseline, ViT-S/16, 500 epochs (Tab. 2): k 32, 5 SK rounds, queue 25000, no vMF/depth.
_base_ = [
    '../_base_/models/cribo_vit-s16.py',
    '../_base_/datasets/nuscenes_cribo.py',
    '../_base_/schedules/adamw_500e.py',
    '../_base_/default_runtime.py',
]
