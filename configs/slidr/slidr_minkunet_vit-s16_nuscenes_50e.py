# SLidR = CSC without the prototype loss, with SLIC superpixels (150 segments) computed on the fly.
_base_ = ['../csc/csc_minkunet_vit-s16_nuscenes_50e.py']
model = dict(criterion=dict(use_prototype_loss=False))
train_dataloader = dict(dataset=dict(
    superpixels=dict(_delete_=True, type='slic', n_segments=150), semantic_root=None))
