# S3PT with ViT-B/16 (Tab. 3, right column): 768 channels, 12 layers, 12 heads.
_base_ = ['./s3pt_vit-s16.py']
model = dict(backbone=dict(arch='deit-base'), head=dict(in_channels=768))
