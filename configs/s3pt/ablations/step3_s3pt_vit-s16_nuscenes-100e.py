# Ablation step 3 = S3PT: + the depth term (alpha_depth [4, 4]) with LiDAR depth per token.
_base_ = [
    '../../_base_/models/s3pt_vit-s16.py',
    '../../_base_/datasets/nuscenes_s3pt.py',
    '../../_base_/schedules/adamw_100e.py',
    '../../_base_/default_runtime.py',
]
