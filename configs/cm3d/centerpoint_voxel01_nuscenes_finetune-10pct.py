# CM3D step 3: fine-tune the pseudo-label CenterPoint on 10 % of the labelled train samples
#   python tools/subsample_infos.py data/nuscenes/nuscenes_infos_train.pkl \
#       data/nuscenes/nuscenes_infos_train_10pct.pkl --ratio 0.1
_base_ = ['../_base_/models/centerpoint_voxel01_second_secfpn.py',
          '../_base_/datasets/nuscenes_lidar_centerpoint.py',
          '../_base_/schedules/cyclic_20e.py', '../_base_/det3d_runtime.py']
train_dataloader = dict(dataset=dict(ann_file='nuscenes_infos_train_10pct.pkl'))
load_from = 'work_dirs/centerpoint_voxel01_nuscenes_cm3d-pretrain/epoch_20.pth'
