# Baseline of the CM3D fine-tuning: the same 10 % of the labels from random initialisation.
_base_ = ['./centerpoint_voxel01_nuscenes_finetune-10pct.py']
load_from = None
