# CSC pre-training model (docs/csc.md): the MinkUNet backbone of the downstream model against a
# frozen S3PT ViT-S/16 with a trainable 1x1 decoder; L_sp (tau 0.07) and, from epoch 5, L_pro
# (tau 1.0) over MMPB prototypes of the 150 ADE20K classes of the superpixel maps.
_base_ = ['./minkunet_spconv_nuscenes_lidarseg.py']
s3pt_checkpoint = None  # the S3PT pre-training checkpoint (its teacher ViT is used)
model = dict(
    _delete_=True,
    type='CSCPretrainer',
    data_preprocessor=dict(
        type='CSCDataPreprocessor',
        points_preprocessor={{_base_.model.data_preprocessor}}),
    backbone={{_base_.model.backbone}},
    backbone_channels=96,
    image_backbone=dict(
        type='FrozenBackbone',
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch='deit-small',
            img_size=224,
            patch_size=16,
            out_type='featmap',
            final_norm=True,
            with_cls_token=True,
            init_cfg=dict(type='Pretrained', checkpoint=s3pt_checkpoint,
                          prefix='teacher.module.backbone.'))),
    image_channels=384,
    patch_size=16,
    feat_channels=64,
    prototype_sync='weighted',
    criterion=dict(num_prototypes=150, hidden=128, sp_temperature=0.07, pro_temperature=1.0,
                   start_epoch=5, use_prototype_loss=True, reduction='mean'))
