"""s3pt_mm's compiled CUDA kernels against their PyTorch paths, side by side in one run.

    python benchmarks/kernels.py [--iters 20] [--depth-batch 48] [--skip-compile]

Prints three tables (no pass/fail; the tests check correctness):

1. Spatial clustering (``depth_guided_spatial_clustering``, docs/method.md §5) at the training
   shape B=32 images, n=392 tokens (two 224-px views of 14x14 patches), k=128 clusters,
   D=384 (ViT-S): ``backend='torch'`` vs ``backend='cuda'``, ms per call, the ratio
   torch / cuda (target >= 5) and the share of tokens given the same cluster (same seeds).
2. IP-Basic ``fill_in_fast`` on batches of 1600x900 maps (the real keyframe's six, repeated):
   images/s for the ``torch``, ``torch_compile`` and ``cuda`` backends (target >= 1000) and
   max |backend - torch| in metres (bar: 1e-3).
3. ``project_points_to_depth``: the real 34.7k-point sweep into 6 cameras, ms per call for
   ``torch`` and ``cuda``, and whether the maps are equal.

Timings: CUDA events around ``--iters`` calls after ``--warmup`` calls. Without a GPU the
script says so and exits 0; an unavailable kernel (extension not built) is reported with its
reason and its rows skipped.

Example:
    FORCE_CUDA=1 make install && python benchmarks/kernels.py
"""
import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from s3pt_mm.ops import ext_loader, fill_in_fast, project_points_to_depth  # noqa: E402

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nuscenes-dir', type=Path,
                        default=REPO.parent / 'shared' / 'data' / 'nuscenes_sample',
                        help='the real keyframe (pkl, LIDAR_TOP .pcd.bin); synthetic inputs '
                        'when absent')
    parser.add_argument('--iters', type=int, default=20, help='timed calls per row')
    parser.add_argument('--warmup', type=int, default=3, help='untimed calls per row first')
    parser.add_argument('--batch', type=int, default=32, help='clustering: images B')
    parser.add_argument('--tokens', type=int, default=392, help='clustering: tokens n')
    parser.add_argument('--clusters', type=int, default=128, help='clustering: clusters k')
    parser.add_argument('--dim', type=int, default=384, help='clustering: token dim D')
    parser.add_argument('--depth-batch', type=int, default=48,
                        help='fill_in_fast: 1600x900 maps per call')
    parser.add_argument('--modes', nargs='+', default=['extrap:bilateral', 'noextrap:bilateral'],
                        help='fill_in_fast modes, extrap|noextrap:bilateral|gaussian '
                        '(the configs use extrap:bilateral; the default is noextrap)')
    parser.add_argument('--skip-compile', action='store_true',
                        help='leave out the torch_compile backend (compiling takes minutes)')
    parser.add_argument('--skip', nargs='*', default=[],
                        choices=['clustering', 'depth', 'projection'], help='sections to skip')
    return parser.parse_args(argv)


def print_table(title: str, header, rows, notes=()) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f'\n## {title}')
    print('  '.join(str(h).rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print('  '.join(str(c).rjust(w) for c, w in zip(row, widths)))
    for note in notes:
        print(f'   {note}')


def cuda_ms(fn: Callable[[], object], iters: int, warmup: int) -> float:
    """Mean ms per call of ``fn`` over ``iters`` calls, CUDA events, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(iters):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def load_keyframe(root: Path):
    """(points (N, 5), lidar2cam (6, 4, 4), cam2img (6, 3, 3)), or None when absent."""
    pkls = sorted(root.glob('*.pkl')) if root.is_dir() else []
    if not pkls:
        return None
    info = pickle.load(open(pkls[0], 'rb'))['data_list'][0]
    points = np.fromfile(root / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    lidar2cam = np.stack([np.asarray(info['images'][c]['lidar2cam']) for c in CAMERAS])
    cam2img = np.stack([np.asarray(info['images'][c]['cam2img']) for c in CAMERAS])
    return points, lidar2cam, cam2img


def synthetic_keyframe(num_points: int = 34720):
    """A stand-in sweep and six cameras around the origin (when the real one is absent)."""
    rng = np.random.default_rng(0)
    points = np.c_[rng.normal(0, 20, (num_points, 2)), rng.normal(0, 2, num_points),
                   rng.random((num_points, 2))].astype(np.float32)
    lidar2cam = np.zeros((6, 4, 4))
    for i, yaw in enumerate(np.linspace(0, 2 * np.pi, 6, endpoint=False)):
        c, s = np.cos(yaw), np.sin(yaw)
        # camera z along (c, s, 0), x to its right, y down
        lidar2cam[i, :3, :3] = [[s, -c, 0], [0, 0, -1], [c, s, 0]]
        lidar2cam[i, 3, 3] = 1
    cam2img = np.broadcast_to([[1266.0, 0, 816], [0, 1266.0, 491], [0, 0, 1]], (6, 3, 3))
    return points, lidar2cam, np.ascontiguousarray(cam2img)


def unavailable(op_name: str) -> str:
    return ext_loader.unavailable_reason(op_name) or ''


def rate(images: int, ms: float) -> str:
    per_second = images / ms * 1e3
    return f'{per_second:.0f}' if per_second >= 10 else f'{per_second:.2f}'


# ---------------------------------------------------------------------------------------
# 1. spatial clustering
# ---------------------------------------------------------------------------------------
def clustering_inputs(args, device):
    """Tokens, positions of two 224-px views (14x14 patches each) in a 1600x900 image,
    per-token depths (10 % without one) and fixed seeds, for B images."""
    g = torch.Generator(device='cpu').manual_seed(0)
    b, n, k, d = args.batch, args.tokens, args.clusters, args.dim
    tokens = torch.randn(b, n, d, generator=g)
    side = int(round((n // 2) ** 0.5))
    grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing='xy'),
                       dim=-1).reshape(-1, 2).float() * 16 + 8
    views = []
    for _ in range(2):
        scale = torch.rand(b, 1, 1, generator=g) * 3 + 1
        origin = torch.rand(b, 1, 2, generator=g) * torch.tensor([800.0, 400.0])
        views.append(origin + grid[None] * scale)
    positions = torch.cat(views, dim=1)
    if positions.shape[1] < n:  # n not 2 x a square: pad with random positions
        extra = torch.rand(b, n - positions.shape[1], 2, generator=g) * 900
        positions = torch.cat([positions, extra], dim=1)
    positions = positions[:, :n]
    depths = torch.rand(b, n, generator=g) * 70 + 2
    depth_valid = torch.rand(b, n, generator=g) > 0.1
    seeds = torch.rand(b, n, generator=g).argsort(dim=1)[:, :k]
    return [x.to(device) for x in (tokens, positions, depths, depth_valid, seeds)]


def bench_clustering(args, device) -> None:
    try:
        from s3pt_mm.models.utils.spatial_clustering import depth_guided_spatial_clustering
    except ImportError as e:
        print(f'\n## 1. spatial clustering: skipped ({e})')
        return
    tokens, positions, depths, depth_valid, seeds = clustering_inputs(args, device)

    def run(backend: str):
        return depth_guided_spatial_clustering(
            tokens, positions, depths, depth_valid, num_clusters=args.clusters, n_iter=5,
            sinkhorn_iterations=1, alpha_pos=1.0, alpha_depth=4.0, seed_indices=seeds,
            backend=backend)

    reference = run('torch')
    rows = [('torch', f'{cuda_ms(lambda: run("torch"), args.iters, args.warmup):.2f}', '1.00',
             '-')]
    torch_ms = float(rows[0][1])
    reason = unavailable('spatial_clustering_forward')
    if reason:
        rows.append(('cuda', 'n/a', 'n/a', 'unavailable (below)'))
    else:
        fused = run('cuda')
        agree = (fused.assignment == reference.assignment).float().mean().item()
        ms = cuda_ms(lambda: run('cuda'), args.iters, args.warmup)
        rows.append(('cuda', f'{ms:.2f}', f'{torch_ms / ms:.2f}', f'{100 * agree:.2f} %'))
    print_table(f'1. spatial clustering, B={args.batch} n={args.tokens} k={args.clusters} '
                f'D={args.dim}, 5 iterations (target ratio >= 5)',
                ('backend', 'ms / call', 'torch / this', 'same assignment'), rows,
                [f'cuda: {reason}'] if reason else [])


# ---------------------------------------------------------------------------------------
# 2. fill_in_fast
# ---------------------------------------------------------------------------------------
def bench_fill_in_fast(args, maps: np.ndarray, device) -> None:
    repeat = -(-args.depth_batch // len(maps))
    batch = torch.from_numpy(np.concatenate([maps] * repeat)[:args.depth_batch]).to(device)
    backends = ['torch'] + ([] if args.skip_compile else ['torch_compile']) + ['cuda']
    reason = unavailable('fill_in_fast_forward')
    rows = []
    for mode in args.modes:
        extrap, blur = mode.split(':')
        kwargs = dict(extrapolate=extrap == 'extrap', blur_type=blur)
        expected = fill_in_fast(batch, backend='torch', **kwargs)
        for backend in backends:
            if backend == 'cuda' and reason:
                rows.append((extrap, blur, backend, len(batch), 'n/a', 'n/a',
                             'unavailable (below)'))
                continue
            t0 = time.perf_counter()
            out = fill_in_fast(batch, backend=backend, **kwargs)  # first call (compiles)
            torch.cuda.synchronize()
            first = time.perf_counter() - t0
            diff = float((out - expected).abs().max())
            ms = cuda_ms(lambda: fill_in_fast(batch, backend=backend, **kwargs), args.iters,
                         args.warmup)
            rows.append((extrap, blur, backend, len(batch), f'{first:.1f}', rate(len(batch), ms),
                         f'{diff:.1e}'))
    print_table('2. fill_in_fast on 1600x900 maps (target >= 1000 images/s; bar 1e-3 m)',
                ('extrap', 'blur', 'backend', 'batch', 'first call s', 'images/s',
                 'max |diff| to torch m'), rows, [f'cuda: {reason}'] if reason else [])


# ---------------------------------------------------------------------------------------
# 3. projection
# ---------------------------------------------------------------------------------------
def bench_projection(args, keyframe, device) -> None:
    points, lidar2cam, cam2img = keyframe
    on_gpu = torch.from_numpy(points).to(device)

    def run(backend: str):
        return project_points_to_depth(on_gpu, lidar2cam, cam2img, (900, 1600), backend=backend)

    expected = run('torch')
    rows = [('torch', len(points), f'{cuda_ms(lambda: run("torch"), args.iters, args.warmup):.3f}',
             '-')]
    reason = unavailable('depth_projection_forward')
    if reason:
        rows.append(('cuda', len(points), 'n/a', 'unavailable (below)'))
    else:
        equal = torch.equal(run('cuda'), expected)
        ms = cuda_ms(lambda: run('cuda'), args.iters, args.warmup)
        rows.append(('cuda', len(points), f'{ms:.3f}', 'yes' if equal else 'NO'))
    print_table('3. project_points_to_depth: sweep -> 6 x (900, 1600), incl. calibration checks',
                ('backend', 'points', 'ms / call', 'equal to torch'), rows,
                [f'cuda: {reason}'] if reason else [])


def main(argv=None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        ext = ext_loader.load_ext()
        print('No CUDA device visible (torch.cuda.is_available() is False): these benchmarks '
              'time GPU kernels and need one. s3pt_mm._ext: '
              f'{"built" if ext is not None else unavailable("fill_in_fast_forward")}.')
        return 0
    device = torch.device('cuda')
    ext = ext_loader.load_ext()
    print(f'GPU: {torch.cuda.get_device_name(device)} | torch {torch.__version__} '
          f'(CUDA {torch.version.cuda}) | s3pt_mm._ext: '
          f'{"CUDA " + str(ext.cuda_version) if ext is not None else "not built"} | ops: '
          f'{", ".join(ext_loader.registered_ops()) or "-"}')
    keyframe = load_keyframe(args.nuscenes_dir)
    if keyframe is None:
        print(f'note: no keyframe under {args.nuscenes_dir}: synthetic sweep and cameras')
        keyframe = synthetic_keyframe()
    if 'clustering' not in args.skip:
        bench_clustering(args, device)
    if 'depth' not in args.skip:
        maps = project_points_to_depth(*keyframe, (900, 1600), backend='torch')
        bench_fill_in_fast(args, maps, device)
    if 'projection' not in args.skip:
        bench_projection(args, keyframe, device)
    return 0


if __name__ == '__main__':
    sys.exit(main())
