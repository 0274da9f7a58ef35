# Fine-tuning on the ground truth of one labelled synthetic scene
# (tools/subsample_infos.py ... --num-scenes 1), from the pseudo-label checkpoint.
_base_ = ['./centerpoint_tiny_synthetic-cpu_cm3d-pretrain.py']
train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_1scene.pkl'))
load_from = 'work_dirs/centerpoint_tiny_synthetic-cpu_cm3d-pretrain/epoch_20.pth'
