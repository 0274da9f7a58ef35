# A CPU-sized CenterPoint for the synthetic CM3D benchmark and tests: the same mmdet3d modules as
# centerpoint_voxel01_second_secfpn.py, 80 x 80 m at 0.25 m voxels, about 1/8 of the channels and
# one block per stage (a 2-core CPU trains it in minutes, not days).
_base_ = ['./centerpoint_voxel01_second_secfpn.py']
model_voxel_size = [0.25, 0.25, 0.2]
model_point_cloud_range = [-40.0, -40.0, -5.0, 40.0, 40.0, 3.0]
model = dict(
    data_preprocessor=dict(voxel_layer=dict(voxel_size=model_voxel_size,
                                            point_cloud_range=model_point_cloud_range,
                                            max_voxels=(30000, 40000))),
    pts_middle_encoder=dict(
        sparse_shape=[41, 320, 320],
        base_channels=8,
        output_channels=64,
        # one residual block, then the stride-2 convolution, per stage (mmdet3d 'basicblock')
        encoder_channels=((8, 16), (16, 32), (32, 64), (64, 64)),
        encoder_paddings=((0, 1), (0, 1), (0, [0, 1, 1]), (0, 0))),
    pts_backbone=dict(in_channels=128, out_channels=[32, 64], layer_nums=[1, 1]),
    pts_neck=dict(in_channels=[32, 64], out_channels=[32, 32]),
    pts_bbox_head=dict(
        in_channels=64,
        share_conv_channel=32,
        bbox_coder=dict(voxel_size=model_voxel_size[:2],
                        pc_range=model_point_cloud_range[:2],
                        post_center_range=[-50.0, -50.0, -10.0, 50.0, 50.0, 10.0])),
    train_cfg=dict(pts=dict(grid_size=[320, 320, 40], voxel_size=model_voxel_size,
                            point_cloud_range=model_point_cloud_range)),
    test_cfg=dict(pts=dict(voxel_size=model_voxel_size[:2],
                           pc_range=model_point_cloud_range[:2],
                           post_center_limit_range=[-50.0, -50.0, -10.0, 50.0, 50.0, 10.0],
                           # rotated NMS on a CPU: fewer candidates (a street has < 100 objects)
                           pre_max_size=200, post_max_size=83, max_per_img=100)))
