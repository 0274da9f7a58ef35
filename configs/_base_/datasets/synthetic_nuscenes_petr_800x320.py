# The synthetic nuScenes-format scenes (tools/create_synthetic_nuscenes.py, docs/
# synthetic_scenes.md) with the nuScenes PETR pipeline; only the location and the table
# version (read by the metric, mmdet3d's NuScenesDataset defaults to v1.0-trainval) differ.
_base_ = ['./nuscenes_petr_800x320.py']
data_root = 'data/synthetic_nuscenes/'
synthetic = dict(data_root=data_root, metainfo=dict(version='v1.0-synthetic'))
train_dataloader = dict(dataset=synthetic)
val_dataloader = dict(dataset=synthetic)
test_dataloader = val_dataloader
val_evaluator = dict(data_root=data_root, ann_file=data_root + 'nuscenes_infos_val.pkl')
test_evaluator = val_evaluator
