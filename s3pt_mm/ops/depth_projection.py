"""Project a LiDAR sweep into camera images as sparse depth maps (docs/method.md §4)."""
from typing import Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from . import ext_loader

__all__ = ['project_points_to_depth', 'project_points_to_pixels']

ArrayLike = Union[np.ndarray, Tensor, Sequence]

_BACKENDS = ('auto', 'torch', 'cuda')
_CUDA_OP = 'depth_projection_forward'
# The CUDA kernel marks empty pixels with 0, so a kept depth must not round to 0 in float32:
# any min_depth >= FLT_MIN (1.2e-38 m) guarantees that. Below it the torch path is used.
_CUDA_MIN_DEPTH = float(np.finfo(np.float32).tiny)


def project_points_to_depth(points: Union[np.ndarray, Tensor],
                            lidar2cam: ArrayLike,
                            cam2img: ArrayLike,
                            img_shape: Sequence,
                            min_depth: float = 0.1,
                            backend: str = 'auto') -> Union[np.ndarray, Tensor]:
    """Render LiDAR points into per-camera sparse depth maps with a z-buffer.

    For each camera (docs/method.md §4, mmdet3d's ``points_cam2img`` convention):
    ``p = cam2img . lidar2cam . [x, y, z, 1]`` with ``cam2img`` padded to 4x4, depth
    ``z = p_2`` (the camera-frame z for an intrinsic matrix whose last row is (0, 0, 1)),
    image point ``(u, v) = (p_0 / z, p_1 / z)``. Pixel ``(row i, column j)`` is centred on
    ``(u, v) = (j, i)`` (the OpenCV / nuScenes intrinsics convention, also the synthetic
    depth maps'), so a point lands on the nearest centre, ``(floor(v + 0.5),
    floor(u + 0.5))``, and is kept when ``z > min_depth`` and that pixel is in the image.
    A pixel hit by several points keeps the smallest depth. Computed in float64 on the
    points' device, so numpy, CPU and CUDA give the same pixels. On CUDA tensors one fused
    kernel (``s3pt_mm/ops/csrc/cuda/depth_projection_cuda.cu``) does the projection and the
    z-buffer when the extension is built; it rounds every float64 operation in the torch
    path's order and returns the torch path's maps bit for bit. (Truncating ``u, v``
    instead shifts the map by half a pixel; on the real CAM_FRONT it gives 3,064 pixels,
    the count quoted in the spec, against 3,059 here.)

    NaN / inf coordinates raise instead of being dropped: in nuScenes-style sweeps they mean
    corrupt data. For a sensor that marks missing returns that way, filter first, e.g.
    ``points[np.isfinite(points[:, :3]).all(axis=1)]``.

    Args:
        points (np.ndarray | Tensor): LiDAR points of shape (N, C), C >= 3, columns x, y, z
            (metres, LiDAR frame) then any features (ignored). numpy or torch on any device.
        lidar2cam (array-like): LiDAR-to-camera transform(s), shape (4, 4) or (3, 4), or
            (Ncam, 4, 4) / (Ncam, 3, 4) for several cameras.
        cam2img (array-like): camera intrinsics / projection(s), shape (3, 3), (3, 4) or
            (4, 4), or batched (Ncam, ...). One of ``lidar2cam`` / ``cam2img`` may be
            unbatched and is then shared by all cameras.
        img_shape (sequence): ``(H, W)`` shared by all cameras, or one ``(H, W)`` per camera
            (all equal, so that the maps stack).
        min_depth (float): smallest kept depth, metres, > 0. Defaults to 0.1.
        backend (str): ``'torch'`` (numpy arrays and CPU tensors take the numpy code, other
            tensors torch ops), ``'cuda'`` (the compiled kernel; CUDA tensors only) or
            ``'auto'`` (the kernel for CUDA tensors when the extension is built, else
            ``'torch'``). Defaults to ``'auto'``.

    Returns:
        np.ndarray | Tensor: float32 depth maps in metres, 0 = no point; shape (H, W) when
        both calibrations are unbatched, else (Ncam, H, W). A numpy array for numpy
        ``points``, else a tensor on ``points.device``. Empty clouds, clouds entirely behind
        a camera or outside its view give all-zero maps (not an error).

    Raises:
        ValueError: if ``points`` is not (N, >=3) or has NaN/inf in x, y, z (rows named);
            if a calibration has the wrong shape (expected and got shapes named), non-finite
            entries, or camera counts that disagree; if ``img_shape`` is not positive
            integers ``(H, W)`` or its per-camera shapes differ; if ``min_depth`` <= 0; if
            ``backend`` is unknown, or ``'cuda'`` for points that are not a CUDA tensor or
            for ``min_depth`` < 1.2e-38.
        ExtensionUnavailableError: for ``backend='cuda'`` when the kernel cannot run here
            (extension not built, or no GPU); the message says why.
    """
    is_tensor = isinstance(points, Tensor)
    if not is_tensor and not isinstance(points, np.ndarray):
        raise ValueError(f'points must be a numpy array or a torch tensor, got '
                         f'{type(points).__name__}')
    if points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must have shape (N, C) with C >= 3 (x, y, z, ...), got '
                         f'{tuple(points.shape)}')
    min_depth = float(min_depth)
    if not (np.isfinite(min_depth) and min_depth > 0):
        raise ValueError(f'min_depth must be a finite positive number, got {min_depth}')
    use_kernel = _use_cuda_kernel(backend, points, min_depth)

    l2c = _as_float64(lidar2cam, 'lidar2cam', points)
    c2i = _as_float64(cam2img, 'cam2img', points)
    l2c_batched = _check_matrix(l2c, 'lidar2cam', ((4, 4), (3, 4)))
    c2i_batched = _check_matrix(c2i, 'cam2img', ((3, 3), (3, 4), (4, 4)))
    num_cams = _num_cameras(l2c, l2c_batched, c2i, c2i_batched)
    height, width = _check_img_shape(img_shape, num_cams if (l2c_batched or c2i_batched)
                                     else None)

    xyz = points[:, :3]
    # A float64 sum is finite when every entry is (barring overflow at absurd magnitudes):
    # one cheap reduction in the common case, the per-row check only when it is not.
    total = xyz.sum(dtype=torch.float64) if is_tensor else xyz.sum(dtype=np.float64)
    if not bool(torch.isfinite(total) if is_tensor else np.isfinite(total)):
        finite = (torch.isfinite(xyz).all(dim=1).cpu().numpy()
                  if is_tensor else np.isfinite(xyz).all(axis=1))
        bad = np.flatnonzero(~finite)
    else:
        bad = np.zeros(0, dtype=np.int64)
    if bad.size:
        raise ValueError(f'points has {bad.size} row(s) with NaN or inf in x, y, z (first '
                         f'indices: {bad[:5].tolist()}); drop them before projecting')

    # One (Ncam, 3, 4) projection matrix per camera: rows 0-2 of cam2img(4x4) @ lidar2cam(4x4).
    proj = (_to_4x4(c2i) @ _to_4x4(l2c))[..., :3, :]
    if proj.ndim == 2:
        proj = proj[None]
    elif is_tensor:
        proj = proj.expand(num_cams, 3, 4)
    if use_kernel:
        depth = _project_cuda(xyz, proj, height, width, min_depth)
    elif is_tensor and points.device.type != 'cpu':
        depth = _project_torch(xyz, proj, height, width, min_depth)
    elif is_tensor:
        # CPU tensors take the numpy path (zero-copy both ways): it is the faster one on CPU.
        depth = torch.from_numpy(
            _project_numpy(xyz.detach().numpy(), proj.numpy(), height, width, min_depth))
    else:
        depth = _project_numpy(xyz, proj, height, width, min_depth)
    return depth if (l2c_batched or c2i_batched) else depth[0]


def project_points_to_pixels(points: Union[np.ndarray, Tensor],
                             lidar2cam: ArrayLike,
                             cam2img: ArrayLike,
                             img_shape: Sequence,
                             min_depth: float = 0.1,
                             rounding: str = 'nearest') -> Tuple[np.ndarray, ...]:
    """Point-to-pixel pairs: every (point, camera) whose projection lands inside the image.

    The same projection as :func:`project_points_to_depth` (``p = cam2img . lidar2cam .
    [x, y, z, 1]``, depth ``z = p_2``, kept when ``z > min_depth``), without the z-buffer:
    a pixel may receive several points and a point may land in several cameras, which is
    what point-pixel contrastive methods pair (SLidR / CSC keep occluded points too).

    Args:
        points (np.ndarray | Tensor): (N, C >= 3) LiDAR points, columns x, y, z first.
        lidar2cam (array-like): (4, 4) / (3, 4), or (Ncam, ...) batched.
        cam2img (array-like): (3, 3) / (3, 4) / (4, 4), or (Ncam, ...) batched.
        img_shape (sequence): ``(H, W)`` or one equal ``(H, W)`` per camera.
        min_depth (float): smallest kept depth in metres, > 0. Defaults to 0.1.
        rounding (str): ``'nearest'`` puts a point on the nearest pixel centre, row
            ``floor(v + 0.5)`` (this module's convention, the depth maps'); ``'floor'`` on
            row ``floor(v)``, column ``floor(u)`` (SLidR's / CSC's pairing). Defaults to
            ``'nearest'``.

    Returns:
        Tuple[np.ndarray, ...]: ``(point_index, camera, row, col, depth)``, each (M,):
        int64 index into ``points``, int64 camera index (0 for unbatched calibrations),
        int64 pixel row and column, float32 depth in metres; ordered by camera then point.
        Numpy arrays for any input (pairing is a data-pipeline step).

    Raises:
        ValueError: as :func:`project_points_to_depth` for bad points / calibrations /
            shapes, and for an unknown ``rounding``.
    """
    if rounding not in ('nearest', 'floor'):
        raise ValueError(f"rounding must be 'nearest' or 'floor', got {rounding!r}")
    if isinstance(points, Tensor):
        points = points.detach().cpu().numpy()
    if not isinstance(points, np.ndarray) or points.ndim != 2 or points.shape[1] < 3:
        raise ValueError(f'points must be an (N, C >= 3) array, got '
                         f'{getattr(points, "shape", type(points).__name__)}')
    min_depth = float(min_depth)
    if not (np.isfinite(min_depth) and min_depth > 0):
        raise ValueError(f'min_depth must be a finite positive number, got {min_depth}')
    l2c = _as_float64(lidar2cam, 'lidar2cam', points)
    c2i = _as_float64(cam2img, 'cam2img', points)
    l2c_batched = _check_matrix(l2c, 'lidar2cam', ((4, 4), (3, 4)))
    c2i_batched = _check_matrix(c2i, 'cam2img', ((3, 3), (3, 4), (4, 4)))
    num_cams = _num_cameras(l2c, l2c_batched, c2i, c2i_batched)
    height, width = _check_img_shape(img_shape, num_cams if (l2c_batched or c2i_batched)
                                     else None)
    xyz = points[:, :3].astype(np.float64)
    if not np.isfinite(xyz).all():
        bad = np.flatnonzero(~np.isfinite(xyz).all(axis=1))
        raise ValueError(f'points has {bad.size} row(s) with NaN or inf in x, y, z (first '
                         f'indices: {bad[:5].tolist()}); drop them before projecting')
    proj = np.broadcast_to((_to_4x4(c2i) @ _to_4x4(l2c))[..., :3, :], (num_cams, 3, 4))
    shift = 0.5 if rounding == 'nearest' else 0.0
    out = [[], [], [], [], []]
    for cam in range(num_cams):
        rot, trans = proj[cam, :, :3], proj[cam, :, 3]
        z = xyz @ rot[2] + trans[2]
        keep = np.flatnonzero(z > min_depth)
        z, q = z[keep], xyz[keep]
        u = (q @ rot[0] + trans[0]) / z + shift
        v = (q @ rot[1] + trans[1]) / z + shift
        inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
        out[0].append(keep[inside])
        out[1].append(np.full(int(inside.sum()), cam, dtype=np.int64))
        out[2].append(v[inside].astype(np.int64))  # truncation == floor for v >= 0
        out[3].append(u[inside].astype(np.int64))
        out[4].append(z[inside].astype(np.float32))
    return tuple(np.concatenate(parts) for parts in out)


def _use_cuda_kernel(backend: str, points, min_depth: float) -> bool:
    """Whether to run the CUDA kernel (raises for a ``backend='cuda'`` that cannot)."""
    if backend not in _BACKENDS:
        raise ValueError(f'backend must be one of {_BACKENDS}, got {backend!r}')
    on_cuda = isinstance(points, Tensor) and points.device.type == 'cuda'
    if backend == 'auto':
        return on_cuda and min_depth >= _CUDA_MIN_DEPTH and ext_loader.ext_available(_CUDA_OP)
    if backend == 'cuda':
        ext_loader.get_op(_CUDA_OP)  # raises, saying why, when the kernel cannot run here
        if not on_cuda:
            where = (f'a tensor on {points.device}' if isinstance(points, Tensor) else
                     f'a {type(points).__name__}')
            raise ValueError(f"backend='cuda' projects CUDA tensors only, got {where}; move "
                             "the points to the GPU or use backend='torch'")
        if min_depth < _CUDA_MIN_DEPTH:
            raise ValueError(f"backend='cuda' needs min_depth >= {_CUDA_MIN_DEPTH:.3g} (depths "
                             f"must not round to 0 in float32), got {min_depth}")
        return True
    return False


def _as_float64(matrix: ArrayLike, name: str, points) -> Union[np.ndarray, Tensor]:
    """``matrix`` as float64, a tensor on ``points.device`` for tensor points, else numpy."""
    if isinstance(points, Tensor):
        m = matrix if isinstance(matrix, Tensor) else torch.as_tensor(np.asarray(matrix))
        m = m.to(device=points.device, dtype=torch.float64)
        finite = bool(torch.isfinite(m).all())
    else:
        m = matrix.detach().cpu().numpy() if isinstance(matrix, Tensor) else matrix
        try:
            m = np.asarray(m, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f'{name} must be a numeric matrix, got {matrix!r}') from e
        finite = bool(np.isfinite(m).all())
    if not finite:
        raise ValueError(f'{name} has NaN or inf entries')
    return m


def _check_matrix(m, name: str, shapes: Tuple[Tuple[int, int], ...]) -> bool:
    """Raise unless ``m`` is one of ``shapes`` or a batch of one; return whether batched."""
    shape = tuple(m.shape)
    if m.ndim in (2, 3) and shape[-2:] in shapes:
        return m.ndim == 3
    expected = ', '.join(str(s) for s in shapes)
    batched = ', '.join(f'(Ncam, {s[0]}, {s[1]})' for s in shapes)
    raise ValueError(f'{name} must have shape {expected} or {batched}, got {shape}')


def _num_cameras(l2c, l2c_batched: bool, c2i, c2i_batched: bool) -> int:
    if l2c_batched and c2i_batched and l2c.shape[0] != c2i.shape[0]:
        raise ValueError(f'lidar2cam has {l2c.shape[0]} cameras but cam2img has '
                         f'{c2i.shape[0]}')
    if l2c_batched:
        return int(l2c.shape[0])
    return int(c2i.shape[0]) if c2i_batched else 1


def _check_img_shape(img_shape: Sequence, num_cams) -> Tuple[int, int]:
    """Return ``(H, W)`` from ``(H, W)`` or a per-camera list of equal ``(H, W)``."""
    if isinstance(img_shape, Tensor):
        img_shape = img_shape.tolist()
    shape = np.asarray(img_shape, dtype=object)
    if shape.ndim == 2 and shape.shape[1] == 2:
        if num_cams is not None and shape.shape[0] != num_cams:
            raise ValueError(f'img_shape lists {shape.shape[0]} camera shapes but the '
                             f'calibration has {num_cams} cameras')
        distinct = {tuple(s) for s in shape.tolist()}
        if len(distinct) != 1:
            raise ValueError(f'all cameras must share one image shape to stack their depth '
                             f'maps, got {sorted(distinct)}')
        shape = np.asarray(distinct.pop(), dtype=object)
    ok = shape.ndim == 1 and shape.shape[0] == 2 and all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0
        for s in shape.tolist())
    if not ok:
        raise ValueError(f'img_shape must be (H, W) with positive integers, got '
                         f'{img_shape!r}')
    return int(shape[0]), int(shape[1])


def _to_4x4(m):
    """Pad (..., 3, 3) / (..., 3, 4) matrices to homogeneous (..., 4, 4)."""
    rows, cols = m.shape[-2:]
    if (rows, cols) == (4, 4):
        return m
    if isinstance(m, Tensor):
        out = torch.eye(4, dtype=m.dtype, device=m.device).expand(*m.shape[:-2], 4, 4).clone()
    else:
        out = np.broadcast_to(np.eye(4), m.shape[:-2] + (4, 4)).copy()
    out[..., :rows, :cols] = m
    return out


def _project_numpy(xyz: np.ndarray, proj: np.ndarray, height: int, width: int,
                   min_depth: float) -> np.ndarray:
    num_cams = proj.shape[0]
    xyz = xyz.astype(np.float64)
    flats, depths = [], []
    for cam in range(num_cams):
        rot, trans = proj[cam, :, :3], proj[cam, :, 3]
        z = xyz @ rot[2]
        z += trans[2]
        # Only points in front of the camera need u, v (about half of a 360 deg sweep).
        keep = np.flatnonzero(z > min_depth)
        z = z[keep]
        q = xyz[keep]
        # Shifted by half a pixel: pixel j spans [j - 0.5, j + 0.5) and becomes floor(u).
        u = q @ rot[0]
        u += trans[0]
        u /= z
        u += 0.5
        v = q @ rot[1]
        v += trans[1]
        v /= z
        v += 0.5
        inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
        # int64 truncation == floor for the non-negative u, v kept here.
        flat = v[inside].astype(np.int64)
        flat *= width
        flat += u[inside].astype(np.int64)
        flat += cam * height * width
        flats.append(flat)
        depths.append(z[inside].astype(np.float32))
    # np.empty + fill, not np.zeros: numpy backs large empty arrays with huge pages, while
    # calloc'd zeros fault in 4 KiB pages on the scattered writes (5x slower for 6 x 900 x 1600).
    out = np.empty((num_cams, height, width), np.float32)
    out.fill(0)
    flat = np.concatenate(flats)
    depth = np.concatenate(depths)
    out_flat = out.reshape(-1)
    # z-buffer: any writer first, then the minimum over all writers of each pixel.
    out_flat[flat] = depth
    np.minimum.at(out_flat, flat, depth)
    return out


def _affine(x: Tensor, y: Tensor, z: Tensor, row: Tensor) -> Tensor:
    """``row . (x, y, z, 1)`` as ``((x r0 + y r1) + z r2) + r3``, one rounded float64 op at a
    time: the order the CUDA kernel follows, so that both give the same bits."""
    return ((x * row[..., 0] + y * row[..., 1]) + z * row[..., 2]) + row[..., 3]


def _project_torch(xyz: Tensor, proj: Tensor, height: int, width: int,
                   min_depth: float) -> Tensor:
    num_cams = proj.shape[0]
    out = torch.zeros(num_cams * height * width, dtype=torch.float32, device=xyz.device)
    x, y, z = xyz.to(torch.float64).unbind(dim=1)
    # (Ncam, N): depth of every point in every camera; the same formulas as the numpy path.
    depth = _affine(x, y, z, proj[:, None, 2])
    cam, keep = torch.nonzero(depth > min_depth, as_tuple=True)
    depth = depth[cam, keep]
    x, y, z = x[keep], y[keep], z[keep]
    u = _affine(x, y, z, proj[cam, 0]) / depth + 0.5
    v = _affine(x, y, z, proj[cam, 1]) / depth + 0.5
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    flat = (cam[inside] * height + v[inside].long()) * width + u[inside].long()
    out.scatter_reduce_(0, flat, depth[inside].float(), reduce='amin', include_self=False)
    return out.view(num_cams, height, width)


def _project_cuda(xyz: Tensor, proj: Tensor, height: int, width: int,
                  min_depth: float) -> Tensor:
    """:func:`_project_torch` as one kernel: ``torch.ops.s3pt_mm.depth_projection_forward``."""
    op = ext_loader.get_op(_CUDA_OP)
    return op(xyz.to(torch.float64).contiguous(), proj.contiguous(), height, width, min_depth)
