# PETR with a frozen ViT-S/16 image backbone: S3PT's 3D detection protocol (docs/method.md §8,
# supplementary Tab. 4: 900 queries, 6 decoder layers, 8 heads, FFN 2048, head width 384).
# The backbone weights come from the leaf config (init_cfg of img_backbone.backbone).
model = dict(
    type='PETR',
    data_preprocessor=dict(
        type='Det3DDataPreprocessor',
        mean=[123.675, 116.28, 103.53],  # ImageNet RGB statistics, as in pre-training
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=16),  # whole ViT patches
    grid_mask=dict(type='GridMask', ratio=0.5, prob=0.7),
    img_backbone=dict(
        type='FrozenBackbone',
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch='deit-small',  # ViT-S/16: 384 channels, 12 layers, 6 heads
            img_size=224,  # the pre-training grid; pos_embed is resized to the input per forward
            patch_size=16,
            drop_path_rate=0.1,  # Tab. 4; inactive: the frozen backbone always runs in eval mode
            out_type='featmap',  # stride-16 patch-token map (B, C, H/16, W/16)
            final_norm=True,
            with_cls_token=True)),
    img_neck=dict(
        type='mmdet.ChannelMapper',
        in_channels=[384],
        out_channels=384,
        kernel_size=1,
        norm_cfg=dict(type='GN', num_groups=32),
        act_cfg=None),
    pts_bbox_head=dict(
        type='PETRHead',
        num_classes=10,
        in_channels=384,
        embed_dims=384,
        num_queries=900,
        num_layers=6,
        num_heads=8,
        feedforward_channels=2048,
        dropout=0.1,
        pc_range=[-51.2, -51.2, -5.0, 51.2, 51.2, 3.0],
        position_embedding=dict(
            type='PositionEmbedding3D',
            depth_num=64,
            depth_start=1.0,
            position_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0],
            lid=True),
        bbox_coder=dict(
            type='NMSFreeBBoxCoder',
            max_num=300,
            post_center_range=[-61.2, -61.2, -10.0, 61.2, 61.2, 10.0]),
        assigner=dict(
            type='HungarianAssigner3D',
            match_costs=[
                dict(type='mmdet.FocalLossCost', weight=2.0),
                dict(type='BBox3DL1Cost', weight=0.25),
            ]),
        loss_cls=dict(
            type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=2.0),
        loss_bbox=dict(type='mmdet.L1Loss', loss_weight=0.25),
        code_weights=[1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.2, 0.2]))
