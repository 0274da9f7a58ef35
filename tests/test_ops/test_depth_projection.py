"""project_points_to_depth: pixels and depths from the projection formula, z-buffer, errors."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from s3pt_mm.ops import project_points_to_depth
from s3pt_mm.ops.depth_projection import _project_torch

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
H, W = 900, 1600


def _load_keyframe(root: Path):
    info = pickle.load(open(root / 'n015-2018-07-24-11-22-45+0800.pkl', 'rb'))['data_list'][0]
    points = np.fromfile(root / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    lidar2cam = np.stack([np.asarray(info['images'][c]['lidar2cam']) for c in CAMERAS])
    cam2img = np.stack([np.asarray(info['images'][c]['cam2img']) for c in CAMERAS])
    return points, lidar2cam, cam2img


@pytest.fixture(scope='module')
def keyframe(nuscenes_sample_dir):
    return _load_keyframe(nuscenes_sample_dir)


def _brute_force(points, lidar2cam, cam2img, height, width, min_depth=0.1):
    """Point by point in Python floats: p = K4 (lidar2cam x), keep p_z > min, round(p / p_z)."""
    out = np.zeros((height, width), np.float32)
    k4 = np.eye(4)
    k4[:cam2img.shape[0], :cam2img.shape[1]] = cam2img
    l4 = np.eye(4)
    l4[:lidar2cam.shape[0]] = lidar2cam
    proj = (k4 @ l4)[:3].tolist()
    for x, y, z in points[:, :3].astype(np.float64).tolist():
        pu, pv, depth = (r[0] * x + r[1] * y + r[2] * z + r[3] for r in proj)
        if depth <= min_depth:
            continue
        u, v = pu / depth, pv / depth
        r, c = int(np.floor(v + 0.5)), int(np.floor(u + 0.5))  # nearest pixel centre
        if not (0 <= c < width and 0 <= r < height):
            continue
        d32 = np.float32(depth)
        if out[r, c] == 0 or d32 < out[r, c]:
            out[r, c] = d32
    return out


def _random_rigid(rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    t = np.eye(4)
    t[:3, :3] = q
    t[:3, 3] = rng.normal(size=3)
    return t


K_TOY = np.array([[500.0, 0.0, 320.5], [0.0, 480.0, 240.25], [0.0, 0.0, 1.0]])


def _points_at_pixels(lidar2cam, pixels_uv, depths, offsets=None):
    """LiDAR-frame points seen at image points ``pixels_uv + offsets`` at camera z = depth."""
    uv = pixels_uv + (0.0 if offsets is None else offsets)
    uv1 = np.c_[uv, np.ones(len(pixels_uv))]
    x_cam = (np.linalg.inv(K_TOY) @ uv1.T).T * depths[:, None]
    cam2lidar = np.linalg.inv(lidar2cam)
    return x_cam @ cam2lidar[:3, :3].T + cam2lidar[:3, 3]


def test_known_pixels_and_zbuffer():
    """Points built to hit given pixels at given depths land there; the nearer one wins."""
    rng = np.random.default_rng(0)
    lidar2cam = _random_rigid(rng)
    h, w = 480, 640
    pixels = np.stack([rng.integers(0, w, 200), rng.integers(0, h, 200)], axis=1)
    pixels = np.unique(pixels, axis=0)
    depths = rng.uniform(0.5, 80.0, len(pixels))
    # Anywhere within half a pixel of the centre (pixel (i, j) is centred on u = j, v = i).
    near = _points_at_pixels(lidar2cam, pixels, depths, rng.uniform(-0.49, 0.49, pixels.shape))
    far = _points_at_pixels(lidar2cam, pixels, depths + 5.0,
                            rng.uniform(-0.49, 0.49, pixels.shape))
    # The far copies first, so "last write wins" would fail the z-buffer check.
    points = np.concatenate([far, near]).astype(np.float64)
    depth = project_points_to_depth(points, lidar2cam, K_TOY, (h, w))
    expected = np.zeros((h, w), np.float32)
    expected[pixels[:, 1], pixels[:, 0]] = depths.astype(np.float32)
    assert depth.dtype == np.float32 and depth.shape == (h, w)
    np.testing.assert_allclose(depth, expected, rtol=1e-6, atol=0)
    assert np.count_nonzero(depth) == len(pixels)


def test_real_keyframe_matches_brute_force_and_spec_counts(keyframe):
    """All six cameras equal a point-by-point projection, with the data README's counts."""
    points, lidar2cam, cam2img = keyframe
    depth = project_points_to_depth(points, lidar2cam, cam2img, (H, W))
    assert depth.shape == (6, H, W) and depth.dtype == np.float32
    for i in range(len(CAMERAS)):
        np.testing.assert_array_equal(depth[i],
                                      _brute_force(points, lidar2cam[i], cam2img[i], H, W))
    counts = np.count_nonzero(depth, axis=(1, 2))
    # Spec section 4 quotes 3,064 CAM_FRONT pixels, measured with truncated u, v; the
    # nearest-centre rounding used here (see the docstring) gives 3,059.
    assert counts[0] == 3059
    # data README: ~22k of the 34.7k points project into some camera, 0.2-0.35 % of pixels.
    assert 21_000 < counts.sum() < 23_000
    assert np.all((counts / (H * W) > 0.002) & (counts / (H * W) < 0.0035))
    assert depth[depth > 0].min() > 0.1 and depth.max() < 105.0


def test_synthetic_scene_against_exact_depth(synthetic_scene):
    """On a generated scene the projected LiDAR agrees with the rendered depth maps, and
    nearest-centre rounding beats truncation (which shifts the map by half a pixel)."""
    points, cameras = synthetic_scene
    errors, truncated = [], []
    for _, lidar2cam, cam2img, gt in cameras:
        for out, k in ((errors, cam2img), (truncated, cam2img - [[0, 0, 0.5], [0, 0, 0.5],
                                                                   [0, 0, 0]])):
            # Moving the principal point by -0.5 px turns round(u) into floor(u).
            depth = project_points_to_depth(points, lidar2cam, k, gt.shape)
            both = (depth > 0) & (gt > 0)
            out.append(np.abs(depth[both] - gt[both]))
    errors, truncated = np.concatenate(errors), np.concatenate(truncated)
    assert errors.size > 10_000
    # Pixel centre vs where the point hit: ~1 cm at 400 x 225 on smooth surfaces.
    assert np.median(errors) < 0.02 and (errors < 0.05).mean() > 0.75
    assert np.median(errors) < 0.7 * np.median(truncated)
    assert (errors < 0.05).mean() > (truncated < 0.05).mean() + 0.05


def test_torch_inputs_equal_numpy(keyframe):
    """CPU tensors (numpy path) and the device code path (run on CPU) give the numpy maps."""
    points, lidar2cam, cam2img = keyframe
    expected = project_points_to_depth(points, lidar2cam, cam2img, (H, W))
    got = project_points_to_depth(torch.from_numpy(points), torch.from_numpy(lidar2cam),
                                  cam2img.tolist(), torch.Size([H, W]))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    assert torch.equal(got, torch.from_numpy(expected))
    k4 = np.zeros((6, 4, 4))
    k4[:, :3, :3] = cam2img
    k4[:, 3, 3] = 1
    proj = torch.from_numpy((k4 @ lidar2cam)[:, :3])
    device_path = _project_torch(torch.from_numpy(points[:, :3]), proj, H, W, 0.1)
    assert torch.equal(device_path, torch.from_numpy(expected))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_equals_numpy(keyframe):
    points, lidar2cam, cam2img = keyframe
    expected = project_points_to_depth(points, lidar2cam, cam2img, (H, W))
    got = project_points_to_depth(torch.from_numpy(points).cuda(), lidar2cam, cam2img, (H, W))
    assert got.is_cuda
    assert torch.equal(got.cpu(), torch.from_numpy(expected))


def test_batching_and_shared_calibration(keyframe):
    """(4, 4) + (3, 3) gives (H, W); a shared K broadcasts over (Ncam, 4, 4) extrinsics."""
    points, lidar2cam, cam2img = keyframe
    batched = project_points_to_depth(points, lidar2cam, cam2img, (H, W))
    single = project_points_to_depth(points, lidar2cam[3], cam2img[3], (H, W))
    assert single.shape == (H, W)
    np.testing.assert_array_equal(single, batched[3])
    shared_k = project_points_to_depth(points, lidar2cam, cam2img[0], [(H, W)] * 6)
    for i in range(6):
        np.testing.assert_array_equal(
            shared_k[i], project_points_to_depth(points, lidar2cam[i], cam2img[0], (H, W)))
    # A (3, 4) lidar2cam (no homogeneous row) and a (4, 4) padded K are the same projection.
    k4 = np.eye(4)
    k4[:3, :3] = cam2img[0]
    np.testing.assert_array_equal(
        project_points_to_depth(points, lidar2cam[0][:3], k4, (H, W)), batched[0])


def test_kitti_projection_matrix(kitti_sample_dir):
    """KITTI's 4x4 P2: depth = third row of P2 . x_cam (mmdet3d's points_cam2img)."""
    info = pickle.load(open(kitti_sample_dir / '000008.pkl', 'rb'))['data_list'][0]['images']
    cam = info['CAM2']
    points = np.fromfile(kitti_sample_dir / '000008.bin', dtype=np.float32).reshape(-1, 4)
    p2, l2c = np.asarray(cam['cam2img']), np.asarray(cam['lidar2cam'])
    h, w = cam['height'], cam['width']
    depth = project_points_to_depth(points, l2c, p2, (h, w))
    np.testing.assert_array_equal(depth, _brute_force(points, l2c, p2, h, w))
    # lidar2img = P2 @ lidar2cam, with an identity "extrinsic": the same map.
    np.testing.assert_array_equal(
        project_points_to_depth(points, np.eye(4), np.asarray(cam['lidar2img']), (h, w)), depth)
    assert np.count_nonzero(depth) > 15_000  # the cloud is cropped to the camera's view


def test_nearest_pixel_centre_and_image_borders():
    """Pixel j is centred on u = j: u in [j - 0.5, j + 0.5) lands on j; [-0.5, W - 0.5) is
    inside the image."""
    h, w = 480, 640
    cases = [((10.49, 5.0), (5, 10)), ((10.51, 6.0), (6, 11)), ((-0.49, 7.0), (7, 0)),
             ((w - 0.51, 8.0), (8, w - 1)), ((3.0, h - 0.51), (h - 1, 3))]
    outside = [(-0.51, 9.0), (w - 0.49, 9.0), (4.0, -0.51), (4.0, h - 0.49)]
    uv = np.array([c[0] for c in cases] + outside)
    depths = np.arange(1.0, len(uv) + 1)
    depth = project_points_to_depth(_points_at_pixels(np.eye(4), uv, depths), np.eye(4),
                                    K_TOY, (h, w))
    for i, (_, (r, c)) in enumerate(cases):
        assert depth[r, c] == np.float32(depths[i])
    assert np.count_nonzero(depth) == len(cases)


def test_min_depth_is_strict():
    """z == min_depth is dropped, z just above is kept (docs/method.md §4: keep z > 0.1 m)."""
    pixel = np.array([[10, 20]])
    at = _points_at_pixels(np.eye(4), pixel, np.array([0.1]))
    above = _points_at_pixels(np.eye(4), pixel + 1, np.array([0.1 + 1e-6]))
    depth = project_points_to_depth(np.concatenate([at, above]), np.eye(4), K_TOY, (480, 640))
    assert depth[20, 10] == 0
    assert depth[21, 11] == np.float32(0.1 + 1e-6)
    deeper = project_points_to_depth(at, np.eye(4), K_TOY, (480, 640), min_depth=0.05)
    assert deeper[20, 10] == np.float32(0.1)


def test_empty_results_are_zero_maps(keyframe):
    """No points, points behind the camera or out of view: documented all-zero maps."""
    _, lidar2cam, cam2img = keyframe
    empty = project_points_to_depth(np.zeros((0, 5), np.float32), lidar2cam, cam2img, (H, W))
    assert empty.shape == (6, H, W) and not empty.any()
    behind = np.c_[np.zeros((50, 2)), -np.linspace(0.5, 30, 50)]  # camera frame, z < 0
    assert not project_points_to_depth(behind, np.eye(4), K_TOY, (480, 640)).any()
    outside = np.c_[np.full(50, 100.0), np.zeros(50), np.linspace(1, 30, 50)]  # u >> W
    assert not project_points_to_depth(outside, np.eye(4), K_TOY, (480, 640)).any()
    torch_empty = project_points_to_depth(torch.zeros(0, 3), np.eye(4), K_TOY, (480, 640))
    assert isinstance(torch_empty, torch.Tensor) and not torch_empty.any()


def test_nonfinite_points_raise_with_rows():
    points = np.ones((10, 4), np.float32)
    points[3, 1] = np.nan
    points[7, 2] = np.inf
    points[8, 3] = np.nan  # a feature column: not checked, not used
    with pytest.raises(ValueError, match=r'2 row\(s\).*\[3, 7\]'):
        project_points_to_depth(points, np.eye(4), K_TOY, (480, 640))
    with pytest.raises(ValueError, match='NaN or inf'):
        project_points_to_depth(torch.from_numpy(points), np.eye(4), K_TOY, (480, 640))
    # Features may hold NaN: only x, y, z matter.
    points[[3, 7], :3] = 1.0
    project_points_to_depth(points, np.eye(4), K_TOY, (480, 640))


@pytest.mark.parametrize('kwargs, message', [
    (dict(lidar2cam=np.eye(3)), r'lidar2cam must have shape \(4, 4\), \(3, 4\).*got \(3, 3\)'),
    (dict(lidar2cam=np.eye(4)[None].repeat(2, 0)[None]), r'lidar2cam.*got \(1, 2, 4, 4\)'),
    (dict(cam2img=np.eye(2)),
     r'cam2img must have shape \(3, 3\), \(3, 4\), \(4, 4\).*got \(2, 2\)'),
    (dict(cam2img=np.ones(9)), r'cam2img.*got \(9,\)'),
    (dict(lidar2cam=np.eye(4)[None].repeat(2, 0), cam2img=K_TOY[None].repeat(3, 0)),
     'lidar2cam has 2 cameras but cam2img has 3'),
    (dict(lidar2cam=np.full((4, 4), np.nan)), 'lidar2cam has NaN or inf'),
    (dict(img_shape=(480,)), r'img_shape must be \(H, W\)'),
    (dict(img_shape=(480, 640, 3)), r'img_shape must be \(H, W\)'),
    (dict(img_shape=(0, 640)), r'img_shape must be \(H, W\) with positive integers'),
    (dict(img_shape=(480.5, 640)), r'img_shape must be \(H, W\) with positive integers'),
    (dict(lidar2cam=np.eye(4)[None].repeat(2, 0), img_shape=[(480, 640), (480, 600)]),
     'all cameras must share one image shape'),
    (dict(lidar2cam=np.eye(4)[None].repeat(2, 0), img_shape=[(480, 640)] * 3),
     'img_shape lists 3 camera shapes but the calibration has 2 cameras'),
    (dict(points=np.ones((5, 2))), r'points must have shape \(N, C\) with C >= 3.*\(5, 2\)'),
    (dict(points=[[1.0, 2.0, 3.0]]), 'points must be a numpy array or a torch tensor'),
    (dict(min_depth=0.0), 'min_depth must be a finite positive number'),
])
def test_bad_arguments_raise(kwargs, message):
    args = dict(points=np.ones((5, 3)), lidar2cam=np.eye(4), cam2img=K_TOY, img_shape=(480, 640))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        project_points_to_depth(**args)
