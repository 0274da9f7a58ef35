# nuImages semantic segmentation with mmseg's ADE20k dataset setup (supplementary §1.2.1):
# random resize of the 2048x512 scale by 0.5-2, 512x512 crops, flip, photometric distortion.
# Classes: background, the 10 object classes of Tab. 5, driveable surface (label_spaces.py).
_base_ = './nuimages_semseg_512x512_val.py'
num_classes = 12
crop_size = (512, 512)
# Sliding-window inference over the 512-pixel-high test images (mmseg's Segmenter setting).
slide_inference = dict(mode='slide', crop_size=crop_size, stride=(480, 480))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
# 8 images per step on one GPU (Segmenter's total batch); with N GPUs use batch_size=8 // N.
train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='NuImagesSegDataset',
        data_root=_base_.nuimages_data_root,
        data_prefix=dict(img_path='images/train', seg_map_path='annotations/train'),
        pipeline=train_pipeline))
val_dataloader = _base_.nuimages_val_dataloader
test_dataloader = val_dataloader
# mIoU, aAcc, mAcc and the per-class table in the log, plus IoU.<class> in the results.
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
