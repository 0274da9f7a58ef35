"""ProjectLidarToDepth: depth at the right pixels; calibration/image mismatches are refused;
sweeps that see nothing give the documented empty result (all tokens invalid)."""
import numpy as np
import pytest

from s3pt_mm.datasets import (CompleteDepth, MultiCropWithDepth, NuScenesCameraDataset,
                              ProjectLidarToDepth)

K = np.array([[100.0, 0, 80], [0, 100.0, 45], [0, 0, 1]])


def _results(points, cam2img=K, lidar2cam=np.eye(4), shape=(90, 160), **extra):
    return dict(img=np.zeros(shape + (3,), np.uint8), points=np.asarray(points, np.float32),
                cam2img=cam2img, lidar2cam=lidar2cam, sample_idx=4, sample_token='tok',
                channel='CAM_BACK', img_path='/data/img.jpg', **extra)


def test_points_land_on_their_pixels_nearest_wins():
    # Camera frame = LiDAR frame: (u, v) = (100 x / z + 80, 100 y / z + 45); pixel (i, j) is
    # centred on (u, v) = (j, i), so a point lands on (round(v), round(u)).
    points = [[0.0, 0.0, 10.0, 0, 0],    # -> (80, 45)
              [0.0, 0.0, 5.0, 0, 0],     # same pixel, nearer: kept
              [1.0, -0.25, 4.0, 0, 0],   # -> (105, 38.75): row 39
              [0.0, 0.0, 0.05, 0, 0],    # z <= 0.1 m: dropped
              [20.0, 0.0, 1.0, 0, 0]]    # -> u = 2080: outside
    out = ProjectLidarToDepth()(_results(points))
    depth = out['sparse_depth']
    assert depth.shape == (90, 160) and depth.dtype == np.float32
    assert np.flatnonzero(depth).tolist() == [39 * 160 + 105, 45 * 160 + 80]
    assert depth[45, 80] == 5.0 and depth[39, 105] == 4.0
    assert 'points' not in out


def test_real_keyframe_matches_the_info_calibration(nuscenes_sample_dir):
    ds = NuScenesCameraDataset(data_root=str(nuscenes_sample_dir),
                               ann_file='n015-2018-07-24-11-22-45+0800.pkl', data_prefix={},
                               pipeline=[dict(type='LoadImageFromFile'),
                                         dict(type='LoadLidarPoints'),
                                         dict(type='ProjectLidarToDepth')])
    counts = {ds.get_data_info(i)['channel']: int((ds[i]['sparse_depth'] > 0).sum())
              for i in range(len(ds))}
    # The shared README: 3-5k LiDAR pixels per camera, ~22k of 34.7k points in some camera.
    assert all(3000 <= c <= 5000 for c in counts.values()), counts
    assert 20000 <= sum(counts.values()) <= 24000


@pytest.mark.parametrize('where', ['behind', 'outside', 'none'])
def test_sweeps_that_see_nothing_give_empty_depth_and_invalid_tokens(where):
    points = {'behind': [[0, 0, -5.0, 0, 0], [1, 1, -20.0, 0, 0]],
              'outside': [[50.0, 0, 2.0, 0, 0], [0, -30.0, 3.0, 0, 0]],
              'none': np.zeros((0, 5))}[where]
    results = ProjectLidarToDepth()(_results(points))
    assert not results['sparse_depth'].any()
    results = CompleteDepth()(results)
    assert not results['depth'].any()
    out = MultiCropWithDepth(global_crop_size=32, global_photometric=[[], []])(results)
    assert not out['token_depth_valid'].any() and not out['token_depth'].any()
    assert out['token_pos'].shape == (2, 4, 2)


def test_calibration_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r'sample 4 \(token tok, CAM_BACK.*cam2img must '
                                         r'have shape .* got \(2, 3\)'):
        ProjectLidarToDepth()(_results([[0, 0, 5.0, 0, 0]], cam2img=K[:2]))
    with pytest.raises(ValueError, match=r'img\.jpg.*lidar2cam must have shape .* got \(3, 3\)'):
        ProjectLidarToDepth()(_results([[0, 0, 5.0, 0, 0]], lidar2cam=np.eye(3)))
    with pytest.raises(ValueError, match=r'sample 4 .*NaN or inf'):
        ProjectLidarToDepth()(_results([[0, 0, 5.0, 0, 0]], lidar2cam=np.full((4, 4), np.nan)))


def test_image_that_disagrees_with_its_calibration():
    # A half-size image with the full-size intrinsics: principal point (80, 45) is outside.
    with pytest.raises(ValueError, match=r'img\.jpg.*principal point \(80\.0, 45\.0\) lies '
                                         r'outside the 80x45'):
        ProjectLidarToDepth()(_results([[0, 0, 5.0, 0, 0]], shape=(45, 80)))
    # The dataset records the size: any other size is refused even if the centre fits.
    with pytest.raises(ValueError, match=r'CAM_BACK.*image is 90x160 .* records 900x1600'):
        ProjectLidarToDepth()(_results([[0, 0, 5.0, 0, 0]], expected_img_shape=(900, 1600)))
    with pytest.raises(KeyError, match="'points' missing"):
        ProjectLidarToDepth()(dict(img=np.zeros((4, 4, 3), np.uint8), cam2img=K,
                                   lidar2cam=np.eye(4)))
