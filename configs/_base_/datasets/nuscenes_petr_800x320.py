# nuScenes, six cameras at 800x320 for PETR; mmdet3d's info files (docs/detection3d.md).
dataset_type = 'NuScenesDataset'
data_root = 'data/nuscenes/'
class_names = [
    'car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
    'pedestrian', 'traffic_cone'
]
metainfo = dict(classes=class_names)
input_modality = dict(use_lidar=False, use_camera=True)
data_prefix = dict(
    pts='samples/LIDAR_TOP',
    CAM_FRONT='samples/CAM_FRONT',
    CAM_FRONT_LEFT='samples/CAM_FRONT_LEFT',
    CAM_FRONT_RIGHT='samples/CAM_FRONT_RIGHT',
    CAM_BACK='samples/CAM_BACK',
    CAM_BACK_RIGHT='samples/CAM_BACK_RIGHT',
    CAM_BACK_LEFT='samples/CAM_BACK_LEFT')
backend_args = None
point_cloud_range = [-51.2, -51.2, -5.0, 51.2, 51.2, 3.0]  # the head's pc_range

# PETR's resize_lim (0.47, 0.625) at 1600x900 -> 800x320, relative to the fitting scale 0.5.
image_aug = dict(type='MultiViewResizeCropFlip', final_hw=(320, 800), scale_range=(0.94, 1.25),
                 bottom_crop_range=(0.0, 0.0))
train_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', num_views=6, backend_args=backend_args),
    dict(type='LoadAnnotations3D', with_bbox_3d=True, with_label_3d=True,
         with_attr_label=False),
    # The official PETR's order: range / name filters, image augmentation (one draw per sample),
    # then the global BEV rotation / scaling (kept consistent with the cameras, see
    # docs/detection3d.md).
    dict(type='ObjectRangeFilter', point_cloud_range=point_cloud_range),
    dict(type='ObjectNameFilter', classes=class_names),
    dict(image_aug, flip_prob=0.5),
    dict(type='GlobalRotScaleBEV', rot_range=(-0.3925, 0.3925), scale_range=(0.95, 1.05)),
    dict(type='Pack3DDetInputs', keys=['img', 'gt_bboxes_3d', 'gt_labels_3d']),
]
test_pipeline = [
    dict(type='LoadMultiViewImageFromFiles', num_views=6, backend_args=backend_args),
    dict(image_aug, test_mode=True),
    dict(type='Pack3DDetInputs', keys=['img']),
]

train_dataloader = dict(
    batch_size=2,  # per GPU (Tab. 4)
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        data_prefix=data_prefix,
        pipeline=train_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        test_mode=False,
        use_valid_flag=True,  # official PETR: train on boxes flagged valid in the info files
        box_type_3d='LiDAR',
        backend_args=backend_args))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_val.pkl',
        data_prefix=data_prefix,
        pipeline=test_pipeline,
        metainfo=metainfo,
        modality=input_modality,
        test_mode=True,
        box_type_3d='LiDAR',
        backend_args=backend_args))
test_dataloader = val_dataloader

# nuScenes mAP / NDS (mmdet3d's NuScenesMetric) + AP by range 0-20 / 0-30 / 0-60 m (Tab. 6).
val_evaluator = dict(
    type='NuScenesRangeMetric',
    data_root=data_root,
    ann_file=data_root + 'nuscenes_infos_val.pkl',
    metric='bbox',
    modality=input_modality,
    ranges=[20.0, 30.0, 60.0],
    backend_args=backend_args)
test_evaluator = val_evaluator
