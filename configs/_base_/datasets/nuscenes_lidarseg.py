# nuScenes-lidarseg, 16 classes (NuScenesLidarSegDataset; the info pkls must carry
# pts_semantic_mask_path = lidarseg/v1.0-trainval/<lidar token>_lidarseg.bin).
dataset_type = 'NuScenesLidarSegDataset'
data_root = 'data/nuscenes/'
label_source = 'nuscenes'
train_ann_file = 'nuscenes_infos_train.pkl'
pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_seg_3d=True,
         seg_3d_dtype='np.uint8'),
    dict(type='PointSegClassMapping'),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]
test_pipeline = [
    dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=5, use_dim=4),
    dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_seg_3d=True,
         seg_3d_dtype='np.uint8'),
    dict(type='PointSegClassMapping'),
    dict(type='Pack3DDetInputs', keys=['points'])
]
train_dataloader = dict(
    batch_size=2, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file=train_ann_file,
                 label_source=label_source, pipeline=pipeline,
                 data_prefix=dict(pts='samples/LIDAR_TOP', pts_semantic_mask='')))
val_dataloader = dict(
    batch_size=1, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='nuscenes_infos_val.pkl',
                 label_source=label_source, pipeline=test_pipeline, test_mode=True,
                 data_prefix=dict(pts='samples/LIDAR_TOP', pts_semantic_mask='')))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
