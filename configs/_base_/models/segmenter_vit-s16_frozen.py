# A frozen ViT-S/16 from pre-training inside mmseg's EncoderDecoder (the decode head is added by
# segmenter_{linear,mask}_vit-s16.py). Only the head trains (supplementary §1.2.1).
model = dict(
    type='EncoderDecoder',
    # Pre-training's normalisation (ImageNet mean/std, RGB): the frozen features expect it.
    # Training batches are padded to a multiple of the patch size (crops smaller than the crop
    # size happen on small images); padded label pixels are ignored.
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255,
        size_divisor=16),
    backbone=dict(
        type='VisionTransformer',
        # The pre-training grid (224 / 16 = 14 x 14): pos_embed loads unchanged and is resized
        # (bicubic) to each input's grid in forward, always from the original weights.
        img_size=(224, 224),
        patch_size=16,
        embed_dims=384,
        num_layers=12,
        num_heads=6,
        mlp_ratio=4,
        qkv_bias=True,
        patch_bias=True,  # mmpretrain's patch embedding has a bias; mmseg's default drops it
        with_cls_token=True,
        final_norm=True,
        norm_cfg=dict(type='LN', eps=1e-6),  # mmpretrain's eps (mmseg's default is 1e-5)
        interpolate_mode='bicubic',
        # Frozen: no stochastic depth or dropout, so train and eval features are identical.
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        frozen_exclude=[],  # requires_grad=False for every backbone parameter
        # Written by tools/model_converters/s3pt_to_mmseg.py (teacher backbone by default).
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/s3pt_vit-s16_mmseg.pth')),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
