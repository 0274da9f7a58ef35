# RGB-only CM3D variant: our PETR (frozen S3PT ViT-S/16) trained on CM3D pseudo-labels of the
# synthetic scenes instead of their ground truth (the images alone at test time).
_base_ = ['../petr/petr_vit-s16-frozen_synthetic-800x320.py']
train_dataloader = dict(dataset=dict(ann_file='cm3d_infos_train.pkl'))
