# Cityscapes with mmseg's cityscapes_768x768 setup (supplementary §1.2.1): random resize of the
# 2049x1025 scale by 0.5-2, 768x768 crops, flip, photometric distortion; 19 classes.
_base_ = './cityscapes_768x768_val.py'
num_classes = 19
crop_size = (768, 768)
slide_inference = dict(mode='slide', crop_size=crop_size, stride=(512, 512))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2049, 1025), ratio_range=(0.5, 2.0), keep_ratio=True),
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
        type='CityscapesDataset',
        data_root=_base_.cityscapes_data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
val_dataloader = _base_.cityscapes_val_dataloader
test_dataloader = val_dataloader
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
