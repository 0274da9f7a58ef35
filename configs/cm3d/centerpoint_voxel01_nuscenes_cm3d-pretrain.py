# CM3D step 2: CenterPoint trained on CM3D pseudo-labels of nuScenes train (no ground truth).
#   python tools/cm3d/generate_pseudo_labels.py --data-root data/nuscenes \
#       --ann-file nuscenes_infos_train.pkl --out data/nuscenes/cm3d_infos_train.pkl \
#       --mask-source foundation ...           (docs/cm3d.md)
_base_ = [
    '../_base_/models/centerpoint_voxel01_second_secfpn.py',
    '../_base_/datasets/nuscenes_lidar_centerpoint.py',
    '../_base_/schedules/cyclic_20e.py',
    '../_base_/det3d_runtime.py',
]
# Pseudo-boxes have no velocity: mmdet3d reads velocity 0 from the info file.
train_dataloader = dict(dataset=dict(ann_file='cm3d_infos_train.pkl'))
