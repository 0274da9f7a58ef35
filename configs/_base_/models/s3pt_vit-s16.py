# S3PT with ViT-S/16 (Tab. 3 of the supplementary; docs/method.md §2-§6).
model = dict(
    type='S3PT',
    data_preprocessor=dict(
        type='SelfSupDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        to_rgb=True),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='deit-small',  # ViT-S: 384 channels, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        out_type='raw',  # CLS + patch tokens of the last layer, after the final norm
        final_norm=True,
        with_cls_token=True),
    head=dict(
        type='S3PTHead',
        in_channels=384,
        out_channels=65536,
        hidden_channels=2048,
        bottleneck_channels=256,
        num_layers=3,
        norm_last_layer=False,  # vMF needs the weight-norm gains free
        use_vmf=True,
        centering='probability',
        teacher_temp=0.04,
        student_temp=0.1),
    assigner=dict(
        type='DepthGuidedSinkhornAssigner',
        num_clusters=128,
        n_iter=5,
        sinkhorn_iterations=1,
        lam=20.0,
        alpha_pos=(1.0, 1.0),
        alpha_depth=(4.0, 4.0)),
    queue=dict(queue_size=2500),
    base_momentum=0.004,  # mmengine EMA convention: teacher momentum 0.996 -> 1 (cosine)
    # S3PT was built on CrIBo's code: its conventions (batch-wide min-max of the clustering
    # cost per GPU, fill value, empty clusters, distance-0 members, NN loss normalisation;
    # docs/method.md §5.5, §6.2) for CrIBo, every ablation step and S3PT alike. With it, a
    # run depends on the per-GPU batch size (docs/method.md §5.6).
    cribo_conventions=True,
)
