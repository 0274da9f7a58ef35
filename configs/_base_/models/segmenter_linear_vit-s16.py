# Segmenter's linear decoder on the frozen ViT-S/16: each patch token -> class scores (a 1x1
# convolution = one linear layer per token), bilinearly upsampled to the image in the loss and
# at inference (Strudel et al. 2021; mmseg's segmenter_vit-s_fcn config).
_base_ = './segmenter_vit-s16_frozen.py'
model = dict(
    decode_head=dict(
        type='FCNHead',
        in_channels=384,
        channels=384,
        num_convs=0,
        concat_input=False,
        dropout_ratio=0.0,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
