"""MultiViewResizeCropFlip: image content, matrices and the mmdet3d pipeline around it."""
import cv2
import numpy as np
import pytest

from s3pt_mm.det3d.geometry import image_aug_matrix, to_homogeneous_4x4

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


def _inputs(info: dict, root) -> dict:
    imgs = [cv2.imread(str(root / info['images'][c]['img_path'])) for c in CAMERAS]
    return dict(img=imgs, cam2img=[np.array(info['images'][c]['cam2img']) for c in CAMERAS],
                lidar2cam=[np.array(info['images'][c]['lidar2cam']) for c in CAMERAS])


def test_test_mode_is_petr_resize_and_bottom_crop(det3d, real_keyframe_info, nuscenes_sample_dir):
    """1600x900 -> 800x320 at test time: resize by 0.5 (800x450), keep the bottom 320 rows."""
    from s3pt_mm.det3d.transforms import MultiViewResizeCropFlip
    results = MultiViewResizeCropFlip(final_hw=(320, 800), test_mode=True).transform(
        _inputs(real_keyframe_info, nuscenes_sample_dir))
    assert results['img_shape'] == (320, 800) and results['flip'] == [False] * 6
    expected_aug = image_aug_matrix((0.5, 0.5), (0, 130), False, 800)
    for i, cam in enumerate(CAMERAS):
        img = cv2.imread(str(nuscenes_sample_dir / real_keyframe_info['images'][cam]['img_path']))
        ref = cv2.resize(img, (800, 450), interpolation=cv2.INTER_LINEAR)[130:450]
        np.testing.assert_array_equal(results['img'][i], ref)
        np.testing.assert_allclose(results['img_aug_matrix'][i], expected_aug)
        cam2img = to_homogeneous_4x4(real_keyframe_info['images'][cam]['cam2img'])
        lidar2cam = np.array(real_keyframe_info['images'][cam]['lidar2cam'])
        np.testing.assert_allclose(results['cam2img'][i], expected_aug @ cam2img)
        np.testing.assert_allclose(results['lidar2img'][i], expected_aug @ cam2img @ lidar2cam)
    # The principal point moves with the crop: c_y' = 0.5 (c_y + 0.5) - 0.5 - 130.
    cy = real_keyframe_info['images']['CAM_FRONT']['cam2img'][1][2]
    assert results['cam2img'][0][1, 2] == pytest.approx(0.5 * (cy + 0.5) - 0.5 - 130)


@pytest.mark.parametrize('per_view', [False, True])
def test_train_mode_draws_per_sample_or_per_view_and_flips_the_image(
        det3d, real_keyframe_info, nuscenes_sample_dir, per_view):
    """Official PETR: one draw shared by the six views; ``per_view=True``: one per view."""
    from s3pt_mm.det3d.transforms import MultiViewResizeCropFlip
    aug = MultiViewResizeCropFlip(final_hw=(320, 800), scale_range=(0.94, 1.25),
                                  bottom_crop_range=(0.0, 0.2), flip_prob=0.5,
                                  per_view=per_view)
    np.random.seed(0)
    results = aug.transform(_inputs(real_keyframe_info, nuscenes_sample_dir))
    scales = {round(m[1, 1], 6) for m in results['img_aug_matrix']}
    assert all(0.47 - 1e-3 <= s <= 0.625 + 1e-3 for s in scales)  # PETR's resize_lim
    if per_view:
        assert len(scales) == 6  # one scale per view
        assert 0 < sum(results['flip']) < 6
    else:
        assert len(scales) == 1 and len(set(results['flip'])) == 1
        assert len({m.tobytes() for m in results['img_aug_matrix']}) == 1
    # A flipped view is the mirror image of the same view without the flip.
    np.random.seed(0)
    new_wh, crop, flip = aug.sample_params(900, 1600)
    front = real_keyframe_info['images'][CAMERAS[0]]['img_path']
    img0 = cv2.imread(str(nuscenes_sample_dir / front))
    np.testing.assert_array_equal(results['img'][0],
                                  aug.apply_image(img0, new_wh, crop, flip))
    np.testing.assert_array_equal(aug.apply_image(img0, new_wh, crop, True)[:, ::-1],
                                  aug.apply_image(img0, new_wh, crop, False))


def test_missing_camera_matrix_names_the_key(det3d):
    from s3pt_mm.det3d.transforms import MultiViewResizeCropFlip
    results = dict(img=[np.zeros((90, 160, 3), np.uint8)] * 2, cam2img=[np.eye(3)],
                   lidar2cam=[np.eye(4)] * 2, sample_idx=7)
    with pytest.raises(ValueError, match=r"'cam2img' per view \(2 views\) for sample 7"):
        MultiViewResizeCropFlip(final_hw=(32, 64)).transform(results)


def test_pipeline_packs_lidar2img_for_the_model(det3d, build_petr_dataset, nuscenes_sample_dir,
                                                real_prefix, real_keyframe_info):
    """Through mmdet3d's NuScenesDataset + LoadMultiViewImageFromFiles + Pack3DDetInputs."""
    ds = build_petr_dataset(nuscenes_sample_dir, 'n015-2018-07-24-11-22-45+0800.pkl',
                            final_hw=(128, 320), data_prefix=real_prefix)
    item = ds[0]
    assert tuple(item['inputs']['img'].shape) == (6, 3, 128, 320)
    meta = item['data_samples'].metainfo
    aug = image_aug_matrix((0.2, 0.2), (0, 52), False, 320)  # 1600x900 -> 320x180, bottom 128
    for i, cam in enumerate(CAMERAS):
        info = real_keyframe_info['images'][cam]
        expected = aug @ to_homogeneous_4x4(info['cam2img']) @ np.array(info['lidar2cam'])
        np.testing.assert_allclose(meta['lidar2img'][i], expected)
    # 69 annotated boxes: NuScenesDataset keeps those with LiDAR points, ObjectNameFilter those
    # with a detection class.
    kept = [b for b in real_keyframe_info['instances']
            if b['bbox_label_3d'] >= 0 and b['num_lidar_pts'] > 0]
    assert len(item['data_samples'].gt_instances_3d) == len(kept) == 65


def test_valid_flag_filter_of_the_official_config(det3d, build_petr_dataset,
                                                  nuscenes_sample_dir, real_prefix,
                                                  real_keyframe_info, tmp_path):
    """``use_valid_flag=True`` (official PETR, our train config) keeps the boxes flagged
    ``bbox_3d_isvalid`` in the info file instead of those with LiDAR points. The keyframe's
    flags equal ``num_lidar_pts > 0``, so a copy with box 0's flag cleared tells them apart."""
    import copy
    import pickle
    with open(nuscenes_sample_dir / 'n015-2018-07-24-11-22-45+0800.pkl', 'rb') as f:
        infos = pickle.load(f)
    infos = copy.deepcopy(infos)
    instances = infos['data_list'][0]['instances']
    first = next(i for i, b in enumerate(instances)
                 if b['bbox_label_3d'] >= 0 and b['num_lidar_pts'] > 0)
    instances[first]['bbox_3d_isvalid'] = False
    with open(tmp_path / 'flags.pkl', 'wb') as f:
        pickle.dump(infos, f)
    kept = [b for b in instances if b['bbox_label_3d'] >= 0 and b['bbox_3d_isvalid']]
    for use_valid_flag, expected in ((True, len(kept)), (False, len(kept) + 1)):
        ds = build_petr_dataset(nuscenes_sample_dir, str(tmp_path / 'flags.pkl'),
                                final_hw=(128, 320), data_prefix=real_prefix,
                                use_valid_flag=use_valid_flag)
        assert len(ds[0]['data_samples'].gt_instances_3d) == expected
    # Same boxes in the same order (centre x, y, size, yaw; z moves to the bottom face).
    boxes = ds[0]['data_samples'].gt_instances_3d.bboxes_3d.tensor.numpy()
    ref = np.array([b['bbox_3d'] for b in instances
                    if b['bbox_label_3d'] >= 0 and b['num_lidar_pts'] > 0])
    np.testing.assert_allclose(boxes[:, [0, 1, 3, 4, 5, 6]], ref[:, [0, 1, 3, 4, 5, 6]],
                               atol=1e-5)
