"""LiDAR points, projected with the written calibration, agree with the dense depth maps.

For every train sample and camera: LiDAR points (from the ``.pcd.bin``) go through the pkl's
``lidar2cam`` and ``cam2img`` (read by ``load_nuscenes_infos``); the depth map is sampled at the
pixel each point falls in. Two facts make an honest comparison:

* Occlusion: the roof LiDAR sees surfaces the lower cameras do not (car roofs behind cars).
  A point counts as visible when the segment camera -> point is free in the scene geometry
  (``make_scene`` rebuilds it from the seed), decided without looking at the depth map.
* Pixel centres: a pixel stores the depth where the ray through its *centre* hits, not where
  the LiDAR point sits inside the pixel; on a slanted surface (the road seen at 20 m) one pixel
  spans decimetres of depth. Where the 4x4 pixels around the point lie on one plane
  (inverse depth affine in (u, v) - exact for planes), the depth at the point's sub-pixel
  position is the bilinear interpolation of inverse depth; elsewhere (depth edges) the point
  is compared with its nearest pixel.
"""
import numpy as np
import pytest

from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos, load_points
from s3pt_mm.synthetic import make_scene
from s3pt_mm.synthetic.geometry import invert_pose
from s3pt_mm.synthetic.raycast import cast_rays_brute_force

# Least-squares affine fit of the 4x4 block (offsets -1..2): residual operator.
_OY, _OX = np.meshgrid(np.arange(-1, 3), np.arange(-1, 3), indexing='ij')
_A = np.stack([np.ones(16), _OX.ravel(), _OY.ravel()], axis=1)
_RESIDUAL = np.eye(16) - _A @ np.linalg.pinv(_A)


def sample_depth_map(depth: np.ndarray, u: np.ndarray, v: np.ndarray):
    """Depth map value at sub-pixel points (pixel (i, j) centred on (u, v) = (j, i)).

    Returns:
        (N,) depth estimate and (N,) bool "planar neighbourhood" (exact interpolation).
    """
    pad = np.pad(depth.astype(np.float64), 2)
    u0, v0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - u0, v - v0
    block = np.stack([pad[v0 + 2 + dy, u0 + 2 + dx] for dy in range(-1, 3) for dx in range(-1, 3)],
                     axis=1)
    valid = block.min(1) > 0
    inv = 1.0 / np.where(valid[:, None], block, 1.0)
    planar = valid & (np.abs(inv @ _RESIDUAL.T).max(1) < 1e-5 * inv.mean(1))
    q = inv[:, [5, 6, 9, 10]]  # the 2x2 cell around the point
    interp = ((1 - fv) * ((1 - fu) * q[:, 0] + fu * q[:, 1])
              + fv * ((1 - fu) * q[:, 2] + fu * q[:, 3]))
    nearest = pad[np.round(v).astype(int) + 2, np.round(u).astype(int) + 2]
    return np.where(planar, 1.0 / interp, nearest), planar, nearest


def test_lidar_agrees_with_depth_maps(synthetic_dataset, capsys):
    cfg = synthetic_dataset.config
    infos = load_nuscenes_infos(synthetic_dataset.root / 'nuscenes_infos_train.pkl',
                                data_prefix=NUSCENES_DATA_PREFIX)
    scene = make_scene(cfg, 0)  # the train split holds scene 0
    global2world = invert_pose(scene.world2global)
    errors, naive, planar_all, visible_frac = [], [], [], []
    for k, info in enumerate(infos):
        parts, _ = scene.parts_at(k * cfg.dt)
        points = load_points(info.lidar_path)[:, :3].astype(np.float64)
        for channel, cam in info.cameras.items():
            xyz = points @ cam.lidar2cam[:3, :3].T + cam.lidar2cam[:3, 3]
            uvw = xyz @ cam.cam2img.T
            z = xyz[:, 2]
            with np.errstate(divide='ignore', invalid='ignore'):
                u, v = uvw[:, 0] / uvw[:, 2], uvw[:, 1] / uvw[:, 2]
            stem = info.cameras[channel].img_path.rsplit('/', 1)[1][:-len('.jpg')]
            depth = np.load(synthetic_dataset.root / 'depth_gt' / channel / f'{stem}.npy')
            h, w = depth.shape
            keep = (z > 0.5) & (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
            xyz, z, u, v = xyz[keep], z[keep], u[keep], v[keep]
            # Occlusion from the scene geometry: is the camera -> point segment free?
            cam2world = global2world @ info.ego2global @ cam.cam2ego
            origin = cam2world[:3, 3]
            world = xyz @ cam2world[:3, :3].T + origin
            t, _ = cast_rays_brute_force(origin, world - origin, parts, scene.layout.ground_plane)
            visible = t > 1 - 1e-4
            visible_frac.append(visible.mean())
            est, planar, nearest = sample_depth_map(depth, u[visible], v[visible])
            errors.append(np.abs(est - z[visible]))
            naive.append(np.abs(nearest - z[visible]))
            planar_all.append(planar)
    err, planar = np.concatenate(errors), np.concatenate(planar_all)
    near_err = np.concatenate(naive)
    with capsys.disabled():
        print(f'\n[synthetic] LiDAR vs depth maps: {len(err)} visible projected points '
              f'({np.mean(visible_frac):.1%} of projected points visible from the camera); '
              f'median |dz| {np.median(err) * 1000:.4f} mm, {np.mean(err < 0.05):.2%} within 5 cm; '
              f'planar neighbourhoods {planar.mean():.1%} with max |dz| '
              f'{err[planar].max() * 1000:.3f} mm; nearest-pixel only: median '
              f'{np.median(near_err) * 1000:.1f} mm, {np.mean(near_err < 0.05):.1%} within 5 cm')
    assert len(err) > 20000
    assert np.median(err) < 0.01
    assert np.mean(err < 0.05) >= 0.95
    # Where the sub-pixel depth is well defined, agreement is exact up to float32 storage.
    assert planar.mean() > 0.8 and err[planar].max() < 0.005


def test_sample_depth_map_is_exact_on_a_plane():
    # A fronto-parallel-tilted plane: 1/z = a + b u + c v, sampled at pixel centres.
    vv, uu = np.mgrid[0:40, 0:60].astype(np.float64)
    depth = 1.0 / (0.05 + 0.001 * uu + 0.002 * vv)
    rng = np.random.default_rng(0)
    u, v = rng.uniform(2, 57, 100), rng.uniform(2, 37, 100)
    est, planar, nearest = sample_depth_map(depth.astype(np.float32), u, v)
    assert planar.all()
    np.testing.assert_allclose(est, 1.0 / (0.05 + 0.001 * u + 0.002 * v), rtol=1e-5)
    # Nearest-pixel sampling is off by the slope across half a pixel.
    assert np.abs(nearest - est).max() > 0.1
    # A depth edge inside the block: not planar, nearest pixel used.
    depth[:, 30:] = 5.0
    est, planar, nearest = sample_depth_map(depth.astype(np.float32), np.array([29.6]),
                                            np.array([20.0]))
    assert not planar[0] and est[0] == nearest[0] == pytest.approx(5.0)
