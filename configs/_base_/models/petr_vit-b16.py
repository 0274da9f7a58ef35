# PETR with a frozen ViT-B/16: 768 channels, head width 768 (Tab. 4); everything else as ViT-S.
_base_ = ['./petr_vit-s16.py']
model = dict(
    img_backbone=dict(backbone=dict(arch='deit-base')),
    img_neck=dict(in_channels=[768], out_channels=768),
    pts_bbox_head=dict(in_channels=768, embed_dims=768))
