# nuScenes camera images with completed LiDAR depth, two global crops (S3PT, docs/method.md §1).
# The one place with a data path: leaf configs change `data_root` here or override it.
# Prepare the data as in docs/data_preparation.md (info pkl + tools/precompute_depth.py).
dataset_type = 'NuScenesCameraDataset'
data_root = 'data/nuscenes/'
depth_prefix = 'depth_completed'  # tools/precompute_depth.py --depth-prefix

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)  # images are loaded BGR (mmcv); the photometric recipe assumes BGR

patch_size = 16  # must equal the backbone's patch size: tokens are pooled per patch
global_crop_size = 224
global_crop_scale = (0.25, 1.0)  # ViT-B: (0.32, 1.0)

# Depth from disk (precomputed); swap in `online_depth_loading` to compute it every epoch.
precomputed_depth_loading = [dict(type='LoadPrecomputedDepth')]
online_depth_loading = [
    dict(type='LoadLidarPoints'),
    dict(type='ProjectLidarToDepth'),
    dict(type='CompleteDepth', method='fill_in_fast', extrapolate=True, blur_type='bilateral'),
]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    *precomputed_depth_loading,
    dict(
        type='MultiCropWithDepth',
        num_global_crops=2,
        global_crop_size=global_crop_size,
        global_crop_scale=global_crop_scale,
        num_local_crops=0,
        with_depth=True,
        patch_size=patch_size),  # photometric: the DINO/BYOL recipe (transform defaults)
    dict(
        type='PackInputs',
        algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid'],
        meta_keys=['sample_idx', 'img_path', 'channel', 'sample_token', 'ori_shape']),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    # DefaultSampler + per-sample augmentation seeds (seed, epoch, index): the data does not
    # depend on num_workers, persistent_workers or a resume (docs/resuming.md).
    sampler=dict(type='EpochSeededSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='nuscenes_infos_train.pkl',
        depth_prefix=depth_prefix,
        pipeline=train_pipeline))
