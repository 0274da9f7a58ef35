# nuScenes sweeps + six cameras for CSC / SLidR pre-training (docs/csc.md §7). The semantic
# superpixels are maps precomputed by a segmentation model (ADE20K-150 label space), one PNG per
# image under data/nuscenes/superpixels_ade20k/<CAMERA>/<image stem>.png.
data_root = 'data/nuscenes/'
train_dataloader = dict(
    batch_size=8,  # x 2 GPUs = the reference's 16
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(
        type='CSCPairedDataset',
        ann_file=data_root + 'nuscenes_infos_train.pkl',
        data_root=data_root,
        superpixels=dict(type='semantic', num_classes=150),
        semantic_root=data_root + 'superpixels_ade20k',
        img_size=(224, 416)))
