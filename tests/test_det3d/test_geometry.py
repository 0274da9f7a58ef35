"""PETR camera geometry: augmentation matrices against real image operations, frustum
lifting / re-projection on the real keyframe's cameras, depth bins and sine encodings."""
import math

import numpy as np
import pytest
import torch

from s3pt_mm.det3d.geometry import (depth_bins, frustum_points, image_aug_matrix,
                                    inverse_sigmoid, lift_frustum, multiview_sine_encoding,
                                    project_points, sine_embedding, to_homogeneous_4x4)

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


def _blob(h: int, w: int, u0: float, v0: float, sigma: float) -> np.ndarray:
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 250.0 * np.exp(-((u - u0) ** 2 + (v - v0) ** 2) / (2 * sigma ** 2))
    return np.repeat(img[..., None], 3, axis=2).astype(np.float32)


def _centroid(img: np.ndarray) -> np.ndarray:
    weight = img[..., 0].astype(np.float64)
    v, u = np.mgrid[0:img.shape[0], 0:img.shape[1]]
    return np.array([(u * weight).sum(), (v * weight).sum()]) / weight.sum()


@pytest.mark.parametrize('new_wh,crop_xy,flip', [
    ((880, 495), (37, 140), False),
    ((880, 495), (37, 140), True),
    ((752, 423), (0, 103), True),  # PETR's smallest scale: the window sticks out (zero padded)
    ((1000, 563), (120, 100), False),
])
def test_aug_matrix_moves_pixels_like_the_image_operations(det3d, new_wh, crop_xy, flip):
    """A Gaussian blob's centre goes where ``image_aug_matrix`` says after the real
    resize (cv2 bilinear) -> crop -> flip of ``MultiViewResizeCropFlip``."""
    from s3pt_mm.det3d.transforms import MultiViewResizeCropFlip
    h, w, u0, v0 = 900, 1600, 613.3, 377.8
    aug = MultiViewResizeCropFlip(final_hw=(320, 800))
    out = aug.apply_image(_blob(h, w, u0, v0, sigma=9.0), new_wh, crop_xy, flip)
    mat = image_aug_matrix((new_wh[0] / w, new_wh[1] / h), crop_xy, flip, out_width=800)
    expected = (mat[:3, :3] @ np.array([u0, v0, 1.0]))[:2]
    # Measured <= 3e-4 px; a half-pixel convention error would show as 0.25-0.5 px.
    np.testing.assert_allclose(_centroid(out), expected, atol=0.01)


def _augmented_cameras(info: dict, seed: int) -> list:
    """Per view of the real keyframe after a random train-time ``MultiViewResizeCropFlip``
    (every view flipped): original and augmented ``lidar2img``, ``lidar2cam`` and the drawn
    ``(new_wh, crop_xy, flip)``, re-drawn with the same seed (images consume no randomness)."""
    from s3pt_mm.det3d.transforms import MultiViewResizeCropFlip
    aug = MultiViewResizeCropFlip(final_hw=(320, 800), scale_range=(0.94, 1.25),
                                  bottom_crop_range=(0.0, 0.2), flip_prob=1.0)
    np.random.seed(seed)
    results = aug.transform(dict(
        img=[np.zeros((900, 1600, 3), np.uint8) for _ in CAMERAS],
        cam2img=[np.array(info['images'][c]['cam2img']) for c in CAMERAS],
        lidar2cam=[np.array(info['images'][c]['lidar2cam']) for c in CAMERAS]))
    np.random.seed(seed)
    params = aug.sample_params(900, 1600)  # one draw for all views (official PETR)
    out = []
    for i, cam in enumerate(CAMERAS):
        lidar2cam = np.array(info['images'][cam]['lidar2cam'])
        ori = to_homogeneous_4x4(np.array(info['images'][cam]['cam2img'])) @ lidar2cam
        assert results['flip'][i] == params[2]
        out.append((ori, results['lidar2img'][i], lidar2cam, params))
    return out


def test_lifted_frustum_points_project_back_onto_their_pixels(det3d, real_keyframe_info):
    """PETR's frustum points of a stride-16 map at D depths, lifted with the augmented
    ``lidar2img^-1``: re-projected they land on the cell's corner (16 j, 16 i) (official
    PETR) at depth d, and through the *original* camera on the pixel the augmentation came
    from (inverted by hand)."""
    depths = depth_bins(64, 1.0, 61.2, lid=True).double()
    points = frustum_points((20, 50), (16.0, 16.0), depths)  # (20, 50, 64, 4)
    centre_u = torch.arange(50, dtype=torch.float64) * 16
    centre_v = torch.arange(20, dtype=torch.float64) * 16
    worst_aug, worst_orig, worst_depth = 0.0, 0.0, 0.0
    for ori, augm, lidar2cam, ((new_w, new_h), (cx, cy), flip) in _augmented_cameras(
            real_keyframe_info, seed=3):
        assert flip
        xyz = lift_frustum(points, torch.from_numpy(augm))  # (20, 50, 64, 3)
        uv, d = project_points(xyz, torch.from_numpy(augm))
        worst_aug = max(worst_aug, float((uv[..., 0] - centre_u[None, :, None]).abs().max()),
                        float((uv[..., 1] - centre_v[:, None, None]).abs().max()))
        worst_depth = max(worst_depth, float((d - depths).abs().max()))
        # Camera-frame depth: the augmentation must not change it.
        cam = xyz @ torch.from_numpy(lidar2cam[:3, :3]).T + torch.from_numpy(lidar2cam[:3, 3])
        worst_depth = max(worst_depth, float((cam[..., 2] - depths).abs().max()))
        # Through the original camera: undo flip, crop and resize (pixel centres at integers).
        u_orig = (800 - 1 - centre_u + cx + 0.5) / (new_w / 1600) - 0.5
        v_orig = (centre_v + cy + 0.5) / (new_h / 900) - 0.5
        uv0, _ = project_points(xyz, torch.from_numpy(ori))
        worst_orig = max(worst_orig, float((uv0[..., 0] - u_orig[None, :, None]).abs().max()),
                         float((uv0[..., 1] - v_orig[:, None, None]).abs().max()))
    # Measured ~1e-12 px (float64 throughout).
    assert worst_aug < 1e-6 and worst_orig < 1e-6 and worst_depth < 1e-8


def test_lift_in_float32_keeps_centimetres(real_keyframe_info):
    """The float32 points the head uses (inverse in float64 inside) stay within 1 mm
    (measured 3e-6 m)."""
    augm = _augmented_cameras(real_keyframe_info, 0)[0][1]
    depths = depth_bins(64, 1.0, 61.2)
    points = frustum_points((20, 50), (16.0, 16.0), depths)
    xyz32 = lift_frustum(points, torch.from_numpy(augm).float())
    xyz64 = lift_frustum(points.double(), torch.from_numpy(augm))
    assert float((xyz32.double() - xyz64).abs().max()) < 1e-3


def test_depth_bins_closed_form():
    """LID: d_i = 1 + 10 i (i + 1) / 20 -> [1, 2, 4, 7]; uniform: 1 + 10 i / 4."""
    torch.testing.assert_close(depth_bins(4, 1.0, 11.0, lid=True),
                               torch.tensor([1.0, 2.0, 4.0, 7.0]))
    torch.testing.assert_close(depth_bins(4, 1.0, 11.0, lid=False),
                               torch.tensor([1.0, 3.5, 6.0, 8.5]))
    with pytest.raises(ValueError, match='depth_start'):
        depth_bins(4, 0.0, 11.0)


def test_frustum_points_at_cell_corners_or_centres():
    # Official PETR (default): cell (1, 2) -> u = 2 * 8 = 16, v = 1 * 16 = 16.
    pts = frustum_points((2, 3), (16.0, 8.0), torch.tensor([2.0]))
    torch.testing.assert_close(pts[1, 2, 0], torch.tensor([32.0, 32.0, 2.0, 1.0]))
    # Centre option: u = 2.5 * 8 - 0.5 = 19.5, v = 1.5 * 16 - 0.5 = 23.5.
    pts = frustum_points((2, 3), (16.0, 8.0), torch.tensor([2.0]), anchor='centre')
    torch.testing.assert_close(pts[1, 2, 0], torch.tensor([39.0, 47.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match='anchor'):
        frustum_points((2, 3), (16.0, 8.0), torch.tensor([2.0]), anchor='middle')


def test_sine_embedding_matches_the_formula():
    """F = 4, T = 1e4: [sin 2pi p, cos 2pi p, sin 2pi p/100, cos 2pi p/100], last coord first."""
    pos = torch.tensor([[0.3, 0.7]])

    def emb(p):
        a = 2 * math.pi * p
        return [math.sin(a), math.cos(a), math.sin(a / 100), math.cos(a / 100)]

    torch.testing.assert_close(sine_embedding(pos, 4), torch.tensor([emb(0.7) + emb(0.3)]))
    with pytest.raises(ValueError, match='even'):
        sine_embedding(pos, 3)


def test_multiview_sine_encoding_layout():
    """Channels [view | row | column], each index normalised to (idx + 1) / count."""
    enc = multiview_sine_encoding(6, (4, 5), 8)
    assert enc.shape == (6, 24, 4, 5)
    n, y, x = 2, 1, 3
    ref = sine_embedding(torch.tensor([(x + 1) / (5 + 1e-6), (y + 1) / (4 + 1e-6),
                                       (n + 1) / (6 + 1e-6)]), 8)
    torch.testing.assert_close(enc[n, :, y, x], ref)


def test_inverse_sigmoid():
    x = torch.tensor([1e-3, 0.25, 0.5, 0.9])
    torch.testing.assert_close(inverse_sigmoid(x).sigmoid(), x)
    assert torch.isfinite(inverse_sigmoid(torch.tensor([0.0, 1.0]))).all()


def test_multiview_sine_encoding_counts_only_valid_cells():
    """With padding, each index is the count of valid cells up to it along its axis divided
    by the count at the axis end (DETR's cumulative form), so unpadded cells keep the
    unpadded values of a smaller image."""
    mask = torch.zeros(1, 2, 4, 5, dtype=torch.bool)
    mask[0, 1, :, 3:] = True  # view 1: the two right columns are padding
    enc = multiview_sine_encoding(2, (4, 5), 8, padding_mask=mask)
    assert enc.shape == (1, 2, 24, 4, 5)
    y, x = 2, 1
    ref = sine_embedding(torch.tensor([(x + 1) / (3 + 1e-6), (y + 1) / (4 + 1e-6),
                                       2 / (2 + 1e-6)]), 8)
    torch.testing.assert_close(enc[0, 1, :, y, x], ref)
    # View 0 has no padding: as without a mask where view 1 is valid too; where view 1 is
    # padding the view count ends at 1, so view 0's view index becomes 1 / 1 (official form).
    plain = multiview_sine_encoding(2, (4, 5), 8)
    torch.testing.assert_close(enc[0, 0, ..., :3], plain[0, ..., :3])
    ref = sine_embedding(torch.tensor([(4 + 1) / (5 + 1e-6), (y + 1) / (4 + 1e-6),
                                       1 / (1 + 1e-6)]), 8)
    torch.testing.assert_close(enc[0, 0, :, y, 4], ref)
