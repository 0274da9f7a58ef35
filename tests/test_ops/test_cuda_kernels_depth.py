"""The compiled depth kernels (projection, IP-Basic fill_in_fast) against the torch paths.

Three groups:

- dispatch (always runs): ``backend='auto'`` falls back to torch without the extension or a
  GPU; ``backend='cuda'`` then raises an error that says why (not built / no GPU).
- the kernels' code on the CPU (needs ``s3pt_mm._ext``, e.g. CI's ``FORCE_CUDA=1`` build):
  each operator also registers a CPU implementation that runs the same per-pixel / per-point
  functions, checked here against the torch path, so that the kernels' arithmetic, borders
  and step order are tested on machines without a GPU.
- the CUDA kernels (needs a CUDA device and the extension): the real nuScenes keyframe and
  synthetic maps, projection bit-exact, fill_in_fast within 1e-3 m (the issue's bar).
"""
import pickle
import types
from unittest import mock

import numpy as np
import pytest
import torch

from s3pt_mm.ops import (ExtensionUnavailableError, ext_loader, fill_in_fast, fill_in_multiscale,
                         ip_basic, project_points_to_depth)
from s3pt_mm.ops import depth_projection as dp
from s3pt_mm.ops import torch_filters as tf

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
H, W = 900, 1600
TOL = 1e-3  # metres: the bar for fill_in_fast, CUDA vs torch
FAST_MODES = [(e, b) for e in (False, True) for b in ('bilateral', 'gaussian')]
FAST_IDS = [f'{"extrap" if e else "noextrap"}-{b}' for e, b in FAST_MODES]

needs_ext = pytest.mark.skipif(
    ext_loader.load_ext() is None,
    reason='s3pt_mm._ext is not built (FORCE_CUDA=1 make install builds it, also without GPU)')


def needs_cuda_kernel(op_name: str):
    """Skip without a GPU, or when the extension lacks ``op_name`` (saying why)."""
    if not torch.cuda.is_available():
        return pytest.mark.skipif(True, reason='needs a CUDA device')
    return pytest.mark.skipif(
        not ext_loader.ext_available(op_name),
        reason=f'CUDA kernel {op_name} unavailable: {ext_loader.unavailable_reason(op_name)}')


# ---------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def keyframe(nuscenes_sample_dir):
    """(points (N, 5), lidar2cam (6, 4, 4), cam2img (6, 3, 3)) of the real keyframe."""
    info = pickle.load(open(nuscenes_sample_dir / 'n015-2018-07-24-11-22-45+0800.pkl',
                            'rb'))['data_list'][0]
    points = np.fromfile(nuscenes_sample_dir / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    lidar2cam = np.stack([np.asarray(info['images'][c]['lidar2cam']) for c in CAMERAS])
    cam2img = np.stack([np.asarray(info['images'][c]['cam2img']) for c in CAMERAS])
    return points, lidar2cam, cam2img


@pytest.fixture(scope='module')
def real_maps(keyframe):
    """The sweep projected into the six cameras: (6, 900, 1600) float32."""
    return torch.from_numpy(project_points_to_depth(*keyframe, (H, W)))


def projection_matrices(lidar2cam, cam2img) -> torch.Tensor:
    """(Ncam, 3, 4) float64 ``cam2img(4x4) @ lidar2cam``, as project_points_to_depth builds."""
    k4 = np.zeros((len(cam2img), 4, 4))
    k4[:, :3, :3] = cam2img
    k4[:, 3, 3] = 1
    return torch.from_numpy((k4 @ lidar2cam)[:, :3])


def random_cameras(num_cams: int, seed: int):
    """Cameras at the origin looking along random directions, K of a 640 x 480 image."""
    rng = np.random.default_rng(seed)
    lidar2cam = np.zeros((num_cams, 4, 4))
    for i in range(num_cams):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        lidar2cam[i, :3, :3] = q * np.sign(np.linalg.det(q))
        lidar2cam[i, :3, 3] = rng.normal(size=3) * 0.5
        lidar2cam[i, 3, 3] = 1
    cam2img = np.array([[500.0, 0.0, 320.5], [0.0, 480.0, 240.25], [0.0, 0.0, 1.0]])
    return lidar2cam, np.broadcast_to(cam2img, (num_cams, 3, 3)).copy()


def random_points(num: int, seed: int) -> torch.Tensor:
    """(N, 4) float32 points around the origin, with many repeats of a few exact points (so
    that pixels are hit by several points, the z-buffer's job)."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.randn(num, 4, generator=g) * torch.tensor([20.0, 20.0, 5.0, 1.0])
    pts[: num // 4] = pts[torch.randint(0, 50, (num // 4,), generator=g)]
    return pts


def sparse_depth(batch: int, height: int, width: int, seed: int,
                 density: float = 0.04) -> torch.Tensor:
    """LiDAR-like (B, H, W) float32 maps: sparse depths in (0.5, 80) m below an empty top band,
    some empty columns, stray values <= 0.1 and a few negatives (left alone by IP-Basic)."""
    g = torch.Generator().manual_seed(seed)
    depth = torch.rand(batch, height, width, generator=g) * 79.5 + 0.5
    keep = torch.rand(batch, height, width, generator=g) < density
    keep[:, :height // 4] = False  # no LiDAR return above the top beam
    keep[:, :, torch.randint(0, width, (max(1, width // 10),), generator=g)] = False
    depth = torch.where(keep, depth, torch.zeros(()))
    stray = torch.rand(batch, height, width, generator=g) < 0.002
    depth = torch.where(stray, torch.rand(batch, height, width, generator=g) * 0.1, depth)
    negative = torch.rand(batch, height, width, generator=g) < 0.0005
    return torch.where(negative, -torch.rand(batch, height, width, generator=g), depth)


def fast_params(extrapolate: bool, blur: str, **sizes) -> 'ip_basic._FastParams':
    """What fill_in_fast builds from its arguments (sizes as fill_in_fast's keywords)."""
    return ip_basic._FastParams(
        max_depth=sizes.get('max_depth', 100.0), extrapolate=extrapolate, blur_type=blur,
        dilation=tf.morph_kernel(sizes.get('dilation_kernel', ip_basic.DIAMOND_KERNEL_5)),
        closing=tf.full_kernel(sizes.get('closing_kernel_size', 5)),
        fill=tf.full_kernel(sizes.get('fill_kernel_size', 7)),
        extrapolation=tf.full_kernel(sizes.get('extrapolation_kernel_size', 31)),
        bilateral=tf.bilateral_support(5, 2.0))


CUSTOM_SIZES = [
    {},
    dict(dilation_kernel=ip_basic.CROSS_KERNEL_3, closing_kernel_size=3, fill_kernel_size=5,
         extrapolation_kernel_size=9),
    dict(dilation_kernel=np.ones((1, 1)), closing_kernel_size=4, fill_kernel_size=1,
         extrapolation_kernel_size=2, max_depth=80.5),
    dict(dilation_kernel=np.array([[1, 0, 0], [0, 0, 1]]), closing_kernel_size=1),
]


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double().cpu() - b.double().cpu()).abs().max()) if a.numel() else 0.0


# ---------------------------------------------------------------------------------------
# Dispatch, without a GPU
# ---------------------------------------------------------------------------------------
def fake_cuda_tensor():
    """Something that passes for a CUDA tensor in the dispatch code (no GPU needed)."""
    fake = mock.Mock(spec=torch.Tensor)
    fake.device = torch.device('cuda', 0)
    return fake


@pytest.fixture
def no_extension(monkeypatch):
    monkeypatch.setattr(ext_loader, '_import_ext',
                        lambda: (None, "ModuleNotFoundError: No module named 's3pt_mm._ext'"))


@pytest.fixture
def extension_without_gpu(monkeypatch):
    monkeypatch.setattr(ext_loader, '_import_ext',
                        lambda: (types.ModuleType('s3pt_mm._ext'), None))
    monkeypatch.setattr(ext_loader, 'has_op', lambda op_name, dispatch_key=None: True)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)


def test_auto_falls_back_to_torch_without_extension(no_extension):
    assert not ext_loader.ext_available('fill_in_fast_forward')
    assert ip_basic._auto_backend('fill_in_fast', fake_cuda_tensor()) == 'torch'
    assert ip_basic._auto_backend('fill_in_fast', torch.zeros(1, 4, 4)) == 'cv2'
    assert not dp._use_cuda_kernel('auto', fake_cuda_tensor(), 0.1)
    # And the public functions still work (CPU: OpenCV / numpy paths).
    depth = sparse_depth(1, 20, 30, seed=0)
    out = fill_in_fast(depth)
    assert out.shape == depth.shape and (out > 0).any()
    points = random_points(200, seed=0)
    lidar2cam, cam2img = random_cameras(2, seed=0)
    maps = project_points_to_depth(points, lidar2cam, cam2img, (48, 64))
    assert torch.equal(maps, torch.from_numpy(project_points_to_depth(
        points.numpy(), lidar2cam, cam2img, (48, 64), backend='torch')))


def test_auto_picks_the_kernel_when_available(monkeypatch):
    monkeypatch.setattr(ext_loader, 'ext_available', lambda op_name=None: True)
    assert ip_basic._auto_backend('fill_in_fast', fake_cuda_tensor()) == 'cuda'
    # No kernel for these: torch ops on the GPU, OpenCV on the CPU.
    assert ip_basic._auto_backend('fill_in_multiscale', fake_cuda_tensor()) == 'torch'
    assert ip_basic._auto_backend('fill_in_fast', np.zeros((4, 4), np.float32)) == 'cv2'
    assert dp._use_cuda_kernel('auto', fake_cuda_tensor(), 0.1)
    assert not dp._use_cuda_kernel('auto', torch.zeros(3, 3), 0.1)
    assert not dp._use_cuda_kernel('auto', fake_cuda_tensor(), 1e-40)  # would round to 0


def test_cuda_backend_without_extension_says_how_to_build(no_extension):
    depth = torch.zeros(1, 8, 8)
    with pytest.raises(ExtensionUnavailableError, match=r'not built.*FORCE_CUDA=1'):
        fill_in_fast(depth, backend='cuda')
    with pytest.raises(ExtensionUnavailableError, match=r'not built.*FORCE_CUDA=1'):
        project_points_to_depth(torch.zeros(5, 3), np.eye(4), np.eye(3), (4, 4),
                                backend='cuda')
    assert 'docs/installation.md' in ext_loader.unavailable_reason('fill_in_fast_forward')


def test_cuda_backend_built_but_no_gpu_says_so(extension_without_gpu):
    assert not ext_loader.ext_available('fill_in_fast_forward')
    with pytest.raises(ExtensionUnavailableError, match='built but no CUDA device is visible'):
        fill_in_fast(torch.zeros(1, 8, 8), backend='cuda')
    with pytest.raises(ExtensionUnavailableError, match='built but no CUDA device is visible'):
        project_points_to_depth(torch.zeros(5, 3), np.eye(4), np.eye(3), (4, 4),
                                backend='cuda')


def test_cuda_backend_rejects_what_it_cannot_run(monkeypatch):
    monkeypatch.setattr(ext_loader, 'get_op', lambda op_name: None)
    with pytest.raises(ValueError, match="backend='cuda' runs on CUDA tensors only.*numpy"):
        fill_in_fast(np.zeros((8, 8), np.float32), backend='cuda')
    with pytest.raises(ValueError, match="backend='cuda' runs on CUDA tensors only.*cpu"):
        fill_in_fast(torch.zeros(8, 8), backend='cuda')
    with pytest.raises(ValueError, match="fill_in_multiscale has no backend='cuda'"):
        fill_in_multiscale(torch.zeros(8, 8), backend='cuda')
    with pytest.raises(ValueError, match="projects CUDA tensors only, got a ndarray"):
        project_points_to_depth(np.zeros((5, 3)), np.eye(4), np.eye(3), (4, 4), backend='cuda')
    with pytest.raises(ValueError, match="backend must be one of"):
        project_points_to_depth(np.zeros((5, 3)), np.eye(4), np.eye(3), (4, 4), backend='gpu')


# ---------------------------------------------------------------------------------------
# The kernels' code, run on the CPU through the operators' CPU registrations
# ---------------------------------------------------------------------------------------
def project_with_op(points: torch.Tensor, proj: torch.Tensor, height: int, width: int,
                    min_depth: float = 0.1) -> torch.Tensor:
    """The operator called as dp._project_cuda calls it, on the points' device."""
    return torch.ops.s3pt_mm.depth_projection_forward(
        points[:, :3].to(torch.float64).contiguous(), proj.contiguous(), height, width,
        min_depth)


@needs_ext
def test_projection_code_equals_torch_path_on_real_keyframe(keyframe):
    points, lidar2cam, cam2img = keyframe
    proj = projection_matrices(lidar2cam, cam2img)
    xyz = torch.from_numpy(points)
    got = project_with_op(xyz, proj, H, W)
    assert torch.equal(got, dp._project_torch(xyz[:, :3], proj, H, W, 0.1))
    numpy_path = project_points_to_depth(points, lidar2cam, cam2img, (H, W))
    assert torch.equal(got, torch.from_numpy(numpy_path))
    assert int((got > 0).sum()) > 20000


@needs_ext
@pytest.mark.parametrize('num_cams, height, width, min_depth',
                         [(1, 37, 53, 0.1), (5, 480, 640, 0.1), (3, 1, 7, 2.5)])
def test_projection_code_equals_torch_path_on_synthetic(num_cams, height, width, min_depth):
    points = random_points(5000, seed=num_cams)
    proj = projection_matrices(*random_cameras(num_cams, seed=height))
    got = project_with_op(points, proj, height, width, min_depth)
    assert torch.equal(got, dp._project_torch(points[:, :3], proj, height, width, min_depth))
    if height > 1:
        assert (got > 0).sum() > 0


@needs_ext
def test_projection_code_edge_cases():
    proj = projection_matrices(*random_cameras(2, seed=1))
    empty = project_with_op(torch.zeros(0, 3), proj, 10, 12)
    assert empty.shape == (2, 10, 12) and not empty.any()
    behind = torch.tensor([[0.0, 0.0, -5.0], [1.0, 2.0, -0.05]], dtype=torch.float64)
    ident = torch.eye(4, dtype=torch.float64)[:3][None]
    assert not project_with_op(behind, ident, 10, 12).any()


@needs_ext
@pytest.mark.parametrize('extrapolate, blur', FAST_MODES, ids=FAST_IDS)
@pytest.mark.parametrize('sizes', range(len(CUSTOM_SIZES)))
def test_fill_in_fast_code_equals_torch_backend_on_synthetic(extrapolate, blur, sizes):
    depth = sparse_depth(2, 45, 67, seed=sizes)
    params = fast_params(extrapolate, blur, **CUSTOM_SIZES[sizes])
    expected = ip_basic._fill_in_fast_torch(depth, params)
    got = torch.ops.s3pt_mm.fill_in_fast_forward(depth,
                                                 *ip_basic._fill_in_fast_kernel_args(params))
    if blur == 'gaussian':
        assert torch.equal(got, expected)  # selections and +, * in torch's order: bit-exact
    else:
        # The only difference: the C library's expf vs torch's vectorised exp on the CPU.
        assert max_diff(got, expected) <= 1e-4


@needs_ext
@pytest.mark.parametrize('height, width', [(3, 3), (4, 9), (13, 5), (1, 20)])
def test_fill_in_fast_code_odd_sizes(height, width):
    depth = sparse_depth(3, height, width, seed=height * width, density=0.3)
    for extrapolate, blur in FAST_MODES:
        params = fast_params(extrapolate, blur)
        got = torch.ops.s3pt_mm.fill_in_fast_forward(
            depth, *ip_basic._fill_in_fast_kernel_args(params))
        if height >= 3 and width >= 3:  # torch's reflect padding needs 2 < H, W
            expected = ip_basic._fill_in_fast_torch(depth, params)
            assert max_diff(got, expected) <= 1e-4
        else:  # OpenCV's BORDER_REFLECT_101 for tiny images: compare with cv2
            expected = fill_in_fast(depth, extrapolate=extrapolate, blur_type=blur,
                                    backend='cv2')
            assert max_diff(got, expected) <= TOL


@needs_ext
@pytest.mark.parametrize('extrapolate, blur', [(True, 'bilateral'), (False, 'gaussian')],
                         ids=['extrap-bilateral', 'noextrap-gaussian'])
def test_fill_in_fast_code_on_real_cam_front(real_maps, extrapolate, blur):
    params = fast_params(extrapolate, blur)
    depth = real_maps[:1]
    expected = ip_basic._fill_in_fast_torch(depth, params)
    got = torch.ops.s3pt_mm.fill_in_fast_forward(depth,
                                                 *ip_basic._fill_in_fast_kernel_args(params))
    assert max_diff(got, expected) <= 1e-4
    if blur == 'gaussian':
        assert torch.equal(got, expected)


# ---------------------------------------------------------------------------------------
# CUDA kernels
# ---------------------------------------------------------------------------------------
@pytest.mark.gpu
@needs_cuda_kernel('depth_projection_forward')
def test_cuda_projection_is_exact_on_real_keyframe(keyframe):
    points, lidar2cam, cam2img = keyframe
    on_gpu = torch.from_numpy(points).cuda()
    got = project_points_to_depth(on_gpu, lidar2cam, cam2img, (H, W), backend='cuda')
    expected = project_points_to_depth(on_gpu, lidar2cam, cam2img, (H, W), backend='torch')
    assert got.is_cuda and got.shape == (6, H, W)
    assert torch.equal(got, expected)
    assert torch.equal(got.cpu(), torch.from_numpy(
        project_points_to_depth(points, lidar2cam, cam2img, (H, W))))
    # 'auto' takes the kernel.
    assert dp._use_cuda_kernel('auto', on_gpu, 0.1)
    assert torch.equal(project_points_to_depth(on_gpu, lidar2cam, cam2img, (H, W)), got)


@pytest.mark.gpu
@needs_cuda_kernel('depth_projection_forward')
@pytest.mark.parametrize('num_points, num_cams, height, width', [(0, 3, 20, 30),
                                                                 (20000, 1, 480, 640),
                                                                 (50000, 6, 37, 53),
                                                                 (3000, 2, 1, 9)])
def test_cuda_projection_is_exact_on_synthetic(num_points, num_cams, height, width):
    points = random_points(num_points, seed=num_points).cuda()
    lidar2cam, cam2img = random_cameras(num_cams, seed=num_cams)
    kwargs = dict(lidar2cam=lidar2cam, cam2img=cam2img, img_shape=(height, width))
    got = project_points_to_depth(points, backend='cuda', **kwargs)
    assert torch.equal(got, project_points_to_depth(points, backend='torch', **kwargs))
    assert torch.equal(got.cpu(), torch.from_numpy(
        project_points_to_depth(points.cpu().numpy(), **kwargs)))
    # B = 1: unbatched calibration gives (H, W).
    one = project_points_to_depth(points, lidar2cam[0], cam2img[0], (height, width),
                                  backend='cuda')
    assert one.shape == (height, width) and torch.equal(one, got[0])


@pytest.mark.gpu
@needs_cuda_kernel('depth_projection_forward')
def test_cuda_projection_edge_cases():
    lidar2cam, cam2img = np.eye(4), np.array([[100.0, 0, 16], [0, 100.0, 12], [0, 0, 1]])
    behind = torch.tensor([[0.0, 0.0, -5.0], [1.0, 2.0, 0.05]], device='cuda')
    assert not project_points_to_depth(behind, lidar2cam, cam2img, (24, 32),
                                       backend='cuda').any()
    empty = project_points_to_depth(torch.zeros(0, 4, device='cuda'), lidar2cam, cam2img,
                                    (24, 32), backend='cuda')
    assert empty.shape == (24, 32) and not empty.any()
    # 10k points on one pixel at different depths: the nearest wins (atomic z-buffer).
    depths = torch.linspace(50.0, 1.0, 10000, device='cuda', dtype=torch.float64)
    pile = torch.stack([torch.zeros_like(depths), torch.zeros_like(depths), depths], dim=1)
    got = project_points_to_depth(pile, lidar2cam, cam2img, (24, 32), backend='cuda')
    assert got[12, 16] == torch.tensor(1.0) and int((got > 0).sum()) == 1
    # float64 and float16 points go through float64 like the torch path.
    for dtype in (torch.float64, torch.float16):
        pts = random_points(1000, seed=3).to('cuda', dtype)
        assert torch.equal(project_points_to_depth(pts, lidar2cam, cam2img, (24, 32),
                                                   backend='cuda'),
                           project_points_to_depth(pts, lidar2cam, cam2img, (24, 32),
                                                   backend='torch'))


@pytest.mark.gpu
@needs_cuda_kernel('fill_in_fast_forward')
@pytest.mark.parametrize('extrapolate, blur', FAST_MODES, ids=FAST_IDS)
def test_cuda_fill_in_fast_matches_torch_on_real_keyframe(real_maps, extrapolate, blur):
    depth = real_maps.cuda()
    kwargs = dict(extrapolate=extrapolate, blur_type=blur)
    got = fill_in_fast(depth, backend='cuda', **kwargs)
    expected = fill_in_fast(depth, backend='torch', **kwargs)
    assert got.is_cuda and got.shape == (6, H, W) and got.dtype == torch.float32
    for i, camera in enumerate(CAMERAS):
        assert max_diff(got[i], expected[i]) <= TOL, camera
    assert torch.equal(fill_in_fast(depth, **kwargs), got)  # 'auto' takes the kernel


@pytest.mark.gpu
@needs_cuda_kernel('fill_in_fast_forward')
@pytest.mark.parametrize('extrapolate, blur', FAST_MODES, ids=FAST_IDS)
@pytest.mark.parametrize('sizes', range(len(CUSTOM_SIZES)))
def test_cuda_fill_in_fast_matches_torch_on_synthetic(extrapolate, blur, sizes):
    depth = sparse_depth(4, 91, 157, seed=sizes).cuda()
    kwargs = dict(extrapolate=extrapolate, blur_type=blur, **CUSTOM_SIZES[sizes])
    got = fill_in_fast(depth, backend='cuda', **kwargs)
    expected = fill_in_fast(depth, backend='torch', **kwargs)
    assert max_diff(got, expected) <= TOL


@pytest.mark.gpu
@needs_cuda_kernel('fill_in_fast_forward')
def test_cuda_fill_in_fast_edge_cases():
    # B = 1 as an (H, W) map, odd sizes, float64 in -> float64 out, non-contiguous input.
    for height, width in ((3, 3), (17, 33), (1, 20), (250, 1)):
        depth = sparse_depth(1, height, width, seed=height, density=0.3)[0].cuda()
        for extrapolate, blur in FAST_MODES:
            got = fill_in_fast(depth, extrapolate=extrapolate, blur_type=blur, backend='cuda')
            # The torch backend's reflect padding needs H, W > 2; OpenCV handles any size.
            ref_backend = 'torch' if min(height, width) >= 3 else 'cv2'
            expected = fill_in_fast(depth, extrapolate=extrapolate, blur_type=blur,
                                    backend=ref_backend)
            assert got.shape == (height, width)
            assert max_diff(got, expected) <= TOL, (height, width, extrapolate, blur)
    depth = sparse_depth(3, 40, 60, seed=7).cuda().double()
    got = fill_in_fast(depth.transpose(1, 2), backend='cuda')
    assert got.dtype == torch.float64
    assert max_diff(got, fill_in_fast(depth.transpose(1, 2), backend='torch')) <= TOL
    zeros = torch.zeros(2, 30, 40, device='cuda')
    for extrapolate in (False, True):
        assert not fill_in_fast(zeros, extrapolate=extrapolate, backend='cuda').any()
    assert fill_in_fast(torch.zeros(0, 5, 6, device='cuda'), backend='cuda').shape == (0, 5, 6)
