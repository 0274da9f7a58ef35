# Ablation step 0 (paper Tab. 1 / Fig. 5): CrIBo, ViT-S/16, 100 epochs.
_base_ = [
    '../../_base_/models/cribo_vit-s16.py',
    '../../_base_/datasets/nuscenes_cribo.py',
    '../../_base_/schedules/adamw_100e.py',
    '../../_base_/default_runtime.py',
]
