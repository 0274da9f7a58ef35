# DINO baseline, ViT-S/16, 500 epochs (Tab. 1): 2 global + 10 local crops, image loss only.
_base_ = [
    '../_base_/models/dino_vit-s16.py',
    '../_base_/datasets/nuscenes_dino.py',
    '../_base_/schedules/adamw_500e.py',
    '../_base_/default_runtime.py',
]
