# Segmenter Mask Transformer decoder on a frozen pre-trained ViT-B/16, Cityscapes, 160k iterations.
_base_ = [
    '../_base_/models/segmenter_mask_vit-b16.py',
    '../_base_/datasets/cityscapes_768x768.py',
    '../_base_/schedules/segmenter_sgd-poly_160k.py',
    '../_base_/segmentation_runtime.py',
]
model = dict(decode_head=dict(num_classes=_base_.num_classes), test_cfg=_base_.slide_inference)
