"""Benchmark LiDAR depth ops: projection, IP-Basic CPU vs the OpenCV reference, GPU batch.

Prints tables (no pass/fail assertions; the tests check correctness):

1. ``project_points_to_depth``: the real keyframe's 34.7k-point sweep into its 6 cameras, ms
   per call (target <= 10 ms on one core).
2. ``fill_in_fast`` / ``fill_in_multiscale`` on the 6 real 1600x900 maps, per image, against
   the OpenCV reference of IP-Basic in ``s3pt_mm/testing/ip_basic_reference.py`` (the one the
   tests compare against, so both time and test the same code), run interleaved in one process;
   ratio = ours / reference (target <= 1.0 on one thread); max |ours - reference|.
3. GPU (when CUDA is available, else says skipped): the batched torch path, eager and
   ``torch.compile``'d, in images/s at 1600x900 (target >= 1000), and its max difference.
4. With ``--synthetic DIR`` (``tools/create_synthetic_nuscenes.py`` output): accuracy of the
   projected LiDAR and of the completed maps against ``depth_gt`` (MAE, RMSE, share of pixels
   with a depth, per ground-truth distance bin).

Example:
    python benchmarks/depth.py --repeats 10
    python benchmarks/depth.py --synthetic data/synthetic_nuscenes --skip-cpu
"""
import argparse
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from s3pt_mm.ops import fill_in_fast, fill_in_multiscale, project_points_to_depth  # noqa: E402

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK', 'CAM_BACK_LEFT',
           'CAM_BACK_RIGHT')
FUNCTIONS = {'fast': fill_in_fast, 'multiscale': fill_in_multiscale}
MODES = [(name, extrapolate, blur) for name in FUNCTIONS for extrapolate in (False, True)
         for blur in ('bilateral', 'gaussian')]
DEPTH_BINS = (0.0, 10.0, 20.0, 40.0, 80.0, np.inf)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nuscenes-dir', type=Path,
                        default=REPO.parent / 'shared' / 'data' / 'nuscenes_sample',
                        help='the real keyframe (pkl, LIDAR_TOP .pcd.bin)')
    parser.add_argument('--repeats', type=int, default=7,
                        help='timed rounds (each round: every image, reference then ours); '
                        'the median round is reported')
    parser.add_argument('--threads', type=int, default=1,
                        help='cv2 / torch CPU threads (the targets are for one thread)')
    parser.add_argument('--clock', choices=('cpu', 'wall'), default='cpu',
                        help='cpu: this thread\'s CPU time, robust on a shared machine (the '
                        'default); wall: elapsed time')
    parser.add_argument('--skip-cpu', action='store_true', help='skip sections 1 and 2')
    parser.add_argument('--skip-gpu', action='store_true', help='skip section 3')
    parser.add_argument('--gpu-batch', type=int, default=48,
                        help='images per GPU call (the 6 real maps repeated)')
    parser.add_argument('--gpu-iters', type=int, default=20, help='timed GPU calls per mode')
    parser.add_argument('--gpu-modes', nargs='+',
                        default=['fast:extrap:bilateral', 'fast:noextrap:bilateral',
                                 'multiscale:noextrap:bilateral'],
                        help='name:extrap|noextrap:bilateral|gaussian, or "all"')
    parser.add_argument('--synthetic', type=Path, default=None,
                        help='synthetic dataset root with depth_gt/ (section 4)')
    parser.add_argument('--synthetic-samples', type=int, default=None,
                        help='use at most this many synthetic samples')
    return parser.parse_args(argv)


def load_reference():
    """The OpenCV reference of IP-Basic that the tests also use (one implementation, two users)."""
    from s3pt_mm.testing.ip_basic_reference import (reference_fill_in_fast,
                                                     reference_fill_in_multiscale)
    return {'fast': reference_fill_in_fast, 'multiscale': reference_fill_in_multiscale}


def load_keyframe(root: Path):
    pkl = next(root.glob('*.pkl'))
    info = pickle.load(open(pkl, 'rb'))['data_list'][0]
    points = np.fromfile(root / info['lidar_points']['lidar_path'],
                         dtype=np.float32).reshape(-1, 5)
    lidar2cam = np.stack([np.asarray(info['images'][c]['lidar2cam']) for c in CAMERAS])
    cam2img = np.stack([np.asarray(info['images'][c]['cam2img']) for c in CAMERAS])
    return points, lidar2cam, cam2img


def print_table(title: str, header, rows) -> None:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    print(f'\n## {title}')
    print('  '.join(str(h).rjust(w) for h, w in zip(header, widths)))
    for row in rows:
        print('  '.join(str(c).rjust(w) for c, w in zip(row, widths)))


def bench_projection(points, lidar2cam, cam2img, args, clock) -> None:
    rows = []
    inputs = {'numpy': (points, lidar2cam, cam2img),
              'torch (CPU)': (torch.from_numpy(points), torch.from_numpy(lidar2cam),
                              torch.from_numpy(cam2img))}
    for name, (p, l2c, k) in inputs.items():
        project_points_to_depth(p, l2c, k, (900, 1600))
        times = []
        for _ in range(max(args.repeats, 10)):
            t0 = clock()
            project_points_to_depth(p, l2c, k, (900, 1600))
            times.append(clock() - t0)
        rows.append((name, len(points), f'{np.min(times) * 1e3:.2f}',
                     f'{np.median(times) * 1e3:.2f}', '<= 10'))
    print_table('1. project_points_to_depth: sweep -> 6 x (900, 1600)',
                ('input', 'points', 'min ms', 'median ms', 'target ms'), rows)


def bench_cpu(maps, reference, args, clock) -> None:
    rows = []
    for name, extrapolate, blur in MODES:
        fn, ref = FUNCTIONS[name], reference[name]
        kwargs = dict(extrapolate=extrapolate, blur_type=blur)
        diff = max(float(np.abs(fn(m, **kwargs) - ref(m, **kwargs)).max()) for m in maps)
        ref_times, our_times = [], []
        for _ in range(args.repeats):
            # Interleaved rounds: load changes on a shared machine hit both alike.
            t0 = clock()
            for m in maps:
                ref(m, **kwargs)
            t1 = clock()
            for m in maps:
                fn(m, **kwargs)
            t2 = clock()
            ref_times.append((t1 - t0) / len(maps))
            our_times.append((t2 - t1) / len(maps))
        ref_ms, our_ms = np.median(ref_times) * 1e3, np.median(our_times) * 1e3
        ratios = np.array(our_times) / np.array(ref_times)
        rows.append((name, 'yes' if extrapolate else 'no', blur, f'{ref_ms:.1f}',
                     f'{our_ms:.1f}', f'{our_ms / ref_ms:.2f}',
                     f'{ratios.min():.2f}-{ratios.max():.2f}', f'{diff:.1e}'))
    print_table(f'2. IP-Basic on the 6 real 1600x900 maps, per image, {args.threads} thread(s), '
                f'{args.clock} time (target ratio <= 1.0)',
                ('function', 'extrap', 'blur', 'reference ms', 'ours ms', 'ratio',
                 'round ratios', 'max |diff| m'), rows)


def parse_modes(specs):
    if specs == ['all']:
        return MODES
    modes = []
    for spec in specs:
        name, extrapolate, blur = spec.split(':')
        modes.append((name, extrapolate == 'extrap', blur))
    return modes


def bench_gpu(maps, points, lidar2cam, cam2img, reference, args) -> None:
    if args.skip_gpu:
        print('\n## 3. GPU: skipped (--skip-gpu)')
        return
    if not torch.cuda.is_available():
        print('\n## 3. GPU: skipped (CUDA not available)')
        return
    device = torch.device('cuda')
    repeat = -(-args.gpu_batch // len(maps))
    batch = torch.from_numpy(np.concatenate([maps] * repeat)[:args.gpu_batch]).to(device)
    rows = []
    for name, extrapolate, blur in parse_modes(args.gpu_modes):
        fn, ref = FUNCTIONS[name], reference[name]
        kwargs = dict(extrapolate=extrapolate, blur_type=blur)
        expected = np.stack([ref(m, **kwargs) for m in maps])
        for backend in ('torch', 'torch_compile'):
            t0 = time.perf_counter()
            out = fn(batch, backend=backend, **kwargs)  # warm-up (compiles)
            torch.cuda.synchronize()
            warmup = time.perf_counter() - t0
            diff = float(np.abs(out[:len(maps)].cpu().numpy() - expected).max())
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(args.gpu_iters):
                fn(batch, backend=backend, **kwargs)
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1e3
            rows.append((name, 'yes' if extrapolate else 'no', blur, backend,
                         len(batch), f'{warmup:.1f}',
                         f'{args.gpu_iters * len(batch) / seconds:.0f}', f'{diff:.1e}'))
    print_table(f'3. GPU {torch.cuda.get_device_name(device)}: batched 1600x900 maps '
                '(target >= 1000 images/s)',
                ('function', 'extrap', 'blur', 'backend', 'batch', 'warm-up s', 'images/s',
                 'max |diff| m'), rows)
    p = torch.from_numpy(points).to(device)
    project_points_to_depth(p, lidar2cam, cam2img, (900, 1600))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(20):
        project_points_to_depth(p, lidar2cam, cam2img, (900, 1600))
    torch.cuda.synchronize()
    print(f'   project_points_to_depth on CUDA: {(time.perf_counter() - t0) / 20 * 1e3:.2f} ms '
          'per sweep -> 6 cameras')


def synthetic_samples(root: Path):
    """(points, [(camera, lidar2cam, cam2img, depth_gt path)]) per sample of a dataset dir."""
    for pkl in sorted(root.glob('nuscenes_infos_*.pkl')):
        for info in pickle.load(open(pkl, 'rb'))['data_list']:
            lidar = root / 'samples' / 'LIDAR_TOP' / info['lidar_points']['lidar_path']
            if not lidar.is_file():
                raise FileNotFoundError(f'{pkl.name}: sample {info["token"]}: LiDAR file '
                                        f'{lidar} is missing')
            points = np.fromfile(lidar, dtype=np.float32).reshape(-1, 5)
            cams = []
            for cam, image in info['images'].items():
                gt = root / 'depth_gt' / cam / (Path(image['img_path']).stem + '.npy')
                if not gt.is_file():
                    raise FileNotFoundError(f'{pkl.name}: sample {info["token"]}: ground-truth '
                                            f'depth {gt} is missing')
                cams.append((cam, np.asarray(image['lidar2cam']),
                             np.asarray(image['cam2img']), gt))
            yield points, cams


class DepthErrors:
    """Accumulates |pred - gt| over pixels with a ground truth, per ground-truth depth bin."""

    def __init__(self):
        n = len(DEPTH_BINS) - 1
        self.pixels = np.zeros(n + 1, np.int64)  # ground-truth pixels; last = all
        self.filled = np.zeros(n + 1, np.int64)
        self.abs_sum = np.zeros(n + 1)
        self.sq_sum = np.zeros(n + 1)

    def add(self, pred: np.ndarray, gt: np.ndarray) -> None:
        has_gt = gt > 0
        bins = np.digitize(gt, DEPTH_BINS[1:-1])
        filled = has_gt & (pred > 0.1)
        err = np.abs(pred - gt)
        for b in range(len(DEPTH_BINS)):
            sel = has_gt if b == len(DEPTH_BINS) - 1 else has_gt & (bins == b)
            sel_filled = filled & sel
            self.pixels[b] += sel.sum()
            self.filled[b] += sel_filled.sum()
            self.abs_sum[b] += err[sel_filled].sum()
            self.sq_sum[b] += (err[sel_filled]**2).sum()

    def cells(self):
        out = []
        for b in range(len(DEPTH_BINS)):
            n = max(self.filled[b], 1)
            share = self.filled[b] / max(self.pixels[b], 1)
            out.append(f'{self.abs_sum[b] / n:.2f}/{np.sqrt(self.sq_sum[b] / n):.2f}/'
                       f'{100 * share:.1f}%')
        return out


def bench_synthetic(args) -> None:
    if args.synthetic is None:
        print('\n## 4. Synthetic accuracy: skipped (no --synthetic DIR)')
        return
    methods = {'lidar (sparse)': None}
    for name, extrapolate, blur in MODES:
        if blur == 'bilateral':
            methods[f'{name} {"extrap" if extrapolate else "noextrap"}'] = (
                FUNCTIONS[name], dict(extrapolate=extrapolate, blur_type=blur))
    errors = {m: DepthErrors() for m in methods}
    count = 0
    for points, cams in synthetic_samples(args.synthetic):
        if args.synthetic_samples is not None and count >= args.synthetic_samples:
            break
        for _, lidar2cam, cam2img, gt_path in cams:
            gt = np.load(gt_path)
            sparse = project_points_to_depth(points, lidar2cam, cam2img, gt.shape)
            for method, spec in methods.items():
                pred = sparse if spec is None else spec[0](sparse, **spec[1])
                errors[method].add(pred, gt)
        count += 1
    if count == 0:
        raise FileNotFoundError(f'no samples under {args.synthetic} (expected '
                                'nuscenes_infos_*.pkl, samples/, depth_gt/)')
    bins = [f'{lo:g}-{hi:g} m' for lo, hi in zip(DEPTH_BINS[:-1], DEPTH_BINS[1:])] + ['all']
    rows = [(m, *errors[m].cells()) for m in methods]
    print_table(f'4. Accuracy vs depth_gt on {count} synthetic samples x {len(cams)} cameras: '
                'MAE / RMSE (m, over pixels with a prediction) / share of ground-truth pixels '
                'with a prediction', ('method', *bins), rows)


def main(argv=None) -> None:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.clock == 'cpu' else time.perf_counter
    print(f'cv2 {cv2.__version__} (IPP: {cv2.ipp.useIPP()}), torch {torch.__version__}, '
          f'numpy {np.__version__}; {args.threads} CPU thread(s)')
    need_real = not (args.skip_cpu and args.skip_gpu)
    if need_real:
        points, lidar2cam, cam2img = load_keyframe(args.nuscenes_dir)
        maps = project_points_to_depth(points, lidar2cam, cam2img, (900, 1600))
        reference = load_reference()
    if not args.skip_cpu:
        if args.threads > 1 and args.clock == 'cpu':
            print('note: --clock cpu measures one thread; use --clock wall with --threads > 1')
        bench_projection(points, lidar2cam, cam2img, args, clock)
        bench_cpu(maps, reference, args, clock)
    if need_real:
        bench_gpu(maps, points, lidar2cam, cam2img, reference, args)
    bench_synthetic(args)


if __name__ == '__main__':
    main()
