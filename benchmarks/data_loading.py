r"""Data-loading cost of depth: the S3PT pipeline vs. the same pipeline without depth.

Both pipelines load a camera image and draw two global 224x224 crops with the DINO photometric
recipe; the S3PT one also loads the precomputed depth map (tools/precompute_depth.py) and pools
token depths. They run side by side in one process, interleaved sample by sample (the same
image and the same random crops through one pipeline, then the other), and the script prints
both rates (samples/s, one sample = one camera image) and their ratio. Target: ratio >= 0.8.

One process and, by default, one OpenCV/torch thread: what one DataLoader worker does.

Examples:
    # generate a 1600x900 synthetic dataset (about 20 s per scene of 2 samples), then measure
    python benchmarks/data_loading.py --out /tmp/bench_nuscenes
    # an existing dataset (real nuScenes or synthetic) with its info pkl
    python benchmarks/data_loading.py --data-root data/nuscenes --ann-file nuscenes_infos_val.pkl
"""
import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3pt_mm.datasets import NuScenesCameraDataset, depth_io  # noqa: E402
from s3pt_mm.synthetic import SyntheticConfig, generate_dataset  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', help='existing dataset; default: generate one')
    parser.add_argument('--ann-file', default='nuscenes_infos_train.pkl',
                        help='info pkl below --data-root')
    parser.add_argument('--out', help='where to generate the synthetic dataset (default: a '
                        'temporary folder, deleted afterwards)')
    parser.add_argument('--scenes', type=int, default=1, help='generated scenes')
    parser.add_argument('--samples-per-scene', type=int, default=2,
                        help='generated keyframes per scene (6 images each)')
    parser.add_argument('--image-size', type=int, nargs=2, default=(1600, 900),
                        metavar=('W', 'H'))
    parser.add_argument('--depth-prefix', default='depth_completed')
    parser.add_argument('--rounds', type=int, default=7,
                        help='interleaved passes over the images per pipeline')
    parser.add_argument('--backend', default='pillow', choices=('pillow', 'cv2'),
                        help='image resize backend of MultiCropWithDepth')
    parser.add_argument('--interpolation', default='bicubic')
    parser.add_argument('--threads', type=int, default=1,
                        help='OpenCV and torch threads (1 = one DataLoader worker)')
    return parser.parse_args(argv)


def pipelines(args: argparse.Namespace) -> dict:
    crop = dict(type='MultiCropWithDepth', num_global_crops=2, global_crop_size=224,
                backend=args.backend, interpolation=args.interpolation)
    return {
        'without depth': [
            dict(type='LoadImageFromFile'),
            dict(crop, with_depth=False),
            dict(type='PackInputs', algorithm_keys=['token_pos']),
        ],
        'with depth (S3PT)': [
            dict(type='LoadImageFromFile'),
            dict(type='LoadPrecomputedDepth'),
            dict(crop, with_depth=True),
            dict(type='PackInputs',
                 algorithm_keys=['token_pos', 'token_depth', 'token_depth_valid']),
        ],
    }


def precompute(data_root: str, args: argparse.Namespace) -> None:
    spec = importlib.util.spec_from_file_location('precompute_depth',
                                                  REPO / 'tools' / 'precompute_depth.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    tool.main(['--data-root', data_root, '--ann-file', args.ann_file,
               '--depth-prefix', args.depth_prefix])


def measure(data_root: str, args: argparse.Namespace) -> dict:
    """Per-sample interleaved timing: image i through one pipeline, then the other (order
    alternating), same random crops, so a load change on a shared machine hits both alike.

    Returns samples/s from wall-clock time and from this process's CPU time (what one busy
    DataLoader worker delivers; immune to other processes preempting this one).
    """
    datasets = {name: NuScenesCameraDataset(data_root=data_root, ann_file=args.ann_file,
                                            depth_prefix=args.depth_prefix, pipeline=pipe)
                for name, pipe in pipelines(args).items()}
    names = list(datasets)
    n = len(datasets[names[0]])
    for ds in datasets.values():  # warm-up: file cache, lazy imports
        ds[0]
    wall = {name: np.zeros(args.rounds) for name in names}
    cpu = {name: np.zeros(args.rounds) for name in names}
    for r in range(args.rounds):
        for i in range(n):
            order = names if (r * n + i) % 2 == 0 else names[::-1]
            for name in order:
                np.random.seed(r * n + i)  # the same crops for both pipelines
                start, start_cpu = time.perf_counter(), time.process_time()
                datasets[name][i]
                wall[name][r] += time.perf_counter() - start
                cpu[name][r] += time.process_time() - start_cpu
    total = n * args.rounds
    return dict(images=n,
                wall_rate={name: total / s.sum() for name, s in wall.items()},
                cpu_rate={name: total / s.sum() for name, s in cpu.items()},
                round_ratios=(n / wall[names[1]]) / (n / wall[names[0]]))


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    tmp = None
    data_root = args.data_root
    if data_root is None:
        if args.out is None:
            tmp = tempfile.TemporaryDirectory(prefix='s3pt_bench_')
        data_root = args.out or tmp.name
        if not (Path(data_root) / args.ann_file).is_file():
            print(f'generating {args.scenes}x{args.samples_per_scene} synthetic samples at '
                  f'{args.image_size[0]}x{args.image_size[1]} in {data_root}')
            generate_dataset(data_root, SyntheticConfig(
                num_scenes=args.scenes, samples_per_scene=args.samples_per_scene, seed=0,
                image_size=tuple(args.image_size), num_val_scenes=0))
    precompute(data_root, args)
    result = measure(data_root, args)
    inflate = ('isal (ISA-L)' if depth_io._fast_zlib is not None
               else 'OpenCV/zlib (pip install isal: ~2x faster depth decoding)')
    print(f'\n{result["images"]} images x {args.rounds} rounds, interleaved per sample, '
          f'backend {args.backend}/{args.interpolation}, {args.threads} thread(s), depth PNG '
          f'inflate: {inflate}:')
    ratios = {}
    for clock in ('wall', 'cpu'):
        rates = result[f'{clock}_rate']
        base, depth = rates['without depth'], rates['with depth (S3PT)']
        ratios[clock] = depth / base
        print(f'  {clock + " clock":<10} without depth {base:6.1f} samples/s, with depth (S3PT) '
              f'{depth:6.1f} samples/s, ratio {ratios[clock]:.3f} (target >= 0.8)')
    per_round = result['round_ratios']
    print(f'  wall-clock ratio per round: {per_round.min():.3f} - {per_round.max():.3f}')
    if tmp is not None:
        tmp.cleanup()
    return dict(ratios=ratios, **result)


if __name__ == '__main__':
    main()
