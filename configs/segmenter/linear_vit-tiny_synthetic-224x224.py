# CPU demo: Segmenter linear decoder on a small frozen ViT (128 channels, 4 blocks, 4 heads,
# patch 16: the ViT of configs/s3pt/demo_vit-tiny_synthetic-cpu.py) on the synthetic scenes,
# 600 iterations (a few minutes on 2 CPU cores):
#   python tools/create_synthetic_nuscenes.py --out data/synthetic_nuscenes --scenes 6 \
#       --samples-per-scene 4 --image-size 400 225
#   python tools/train.py configs/segmenter/linear_vit-tiny_synthetic-224x224.py
# The backbone is randomly initialised; for a converted checkpoint of the same shape, a leaf with
#   model = dict(backbone=dict(init_cfg=dict(_delete_=True, type='Pretrained',
#                                          checkpoint='checkpoints/demo_vit_mmseg.pth')))
_base_ = [
    '../_base_/models/segmenter_linear_vit-s16.py',
    '../_base_/datasets/synthetic_driving_semseg_224x224.py',
    '../_base_/schedules/segmenter_sgd-poly_160k.py',
    '../_base_/segmentation_runtime.py',
]
max_iters = 600
model = dict(
    backbone=dict(embed_dims=128, num_layers=4, num_heads=4, init_cfg=None),
    decode_head=dict(in_channels=128, channels=128, num_classes=_base_.num_classes))
# A short schedule needs a larger step than the 160k protocol's.
optim_wrapper = dict(optimizer=dict(lr=0.03))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters // 2)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=max_iters))
