# Segmenter Mask Transformer decoder on a frozen ViT-B/16 (768 channels, 12 heads).
_base_ = './segmenter_mask_vit-s16.py'
model = dict(
    backbone=dict(
        embed_dims=768,
        num_heads=12,
        init_cfg=dict(checkpoint='checkpoints/s3pt_vit-b16_mmseg.pth')),
    decode_head=dict(in_channels=768, channels=768, embed_dims=768, num_heads=12))
