# Segmenter's Mask Transformer decoder (2 layers, Segmenter's defaults as in mmseg's
# segmenter_vit-s_mask config) on the frozen ViT-S/16.
_base_ = './segmenter_vit-s16_frozen.py'
model = dict(
    decode_head=dict(
        type='SegmenterMaskTransformerHead',
        in_channels=384,
        channels=384,
        num_layers=2,
        num_heads=6,
        embed_dims=384,
        dropout_ratio=0.0,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
