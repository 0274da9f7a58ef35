# The synthetic scenes (tools/create_synthetic_nuscenes.py) with their per-point labels.
_base_ = ['./nuscenes_lidarseg.py']
data_root = 'data/synthetic_nuscenes/'
train_dataloader = dict(dataset=dict(data_root=data_root, label_source='synthetic'))
val_dataloader = dict(dataset=dict(data_root=data_root, label_source='synthetic'))
test_dataloader = val_dataloader
