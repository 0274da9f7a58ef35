# nuImages val set for semantic segmentation (ADE20k-style test: short side 512, labels loaded at
# the original size). Separate from nuimages_semseg_512x512.py so that domain-generalisation
# configs can test a Cityscapes-trained model on it (configs/segmenter/dg/).
# Prepare with tools/dataset_converters/nuimages_to_semseg.py (docs/segmentation.md).
nuimages_data_root = 'data/nuimages_semseg'
nuimages_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs')
]
nuimages_val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='NuImagesSegDataset',
        data_root=nuimages_data_root,
        data_prefix=dict(img_path='images/val', seg_map_path='annotations/val'),
        pipeline=nuimages_test_pipeline))
