# DINO baseline, ViT-B/16, 100 epochs (Tab. 1): norm last layer on, grad clip 0.3, freeze 3 ep.
_base_ = [
    '../_base_/models/s3pt_vit-b16.py',
    '../_base_/datasets/nuscenes_dino.py',
    '../_base_/schedules/adamw_100e_vit-b.py',
    '../_base_/default_runtime.py',
]
model = dict(
    head=dict(use_vmf=False, centering='logit', norm_last_layer=True, with_object_head=False),
    assigner=None,
    queue=None,
)
