# Segmenter linear decoder on a frozen pre-trained ViT-S/16, nuImages, 160k iterations.
_base_ = [
    '../_base_/models/segmenter_linear_vit-s16.py',
    '../_base_/datasets/nuimages_semseg_512x512.py',
    '../_base_/schedules/segmenter_sgd-poly_160k.py',
    '../_base_/segmentation_runtime.py',
]
model = dict(decode_head=dict(num_classes=_base_.num_classes), test_cfg=_base_.slide_inference)
