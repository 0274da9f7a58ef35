# Cityscapes val set as mmseg's cityscapes_768x768 config tests it (images resized to 2049x1025).
# Separate from cityscapes_768x768.py so that domain-generalisation configs can test a
# nuImages-trained model on it (configs/segmenter/dg/). Labels are mmseg's *_labelTrainIds.png
# (docs/segmentation.md, "Cityscapes").
cityscapes_data_root = 'data/cityscapes/'
cityscapes_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2049, 1025), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
cityscapes_val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=cityscapes_data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=cityscapes_test_pipeline))
