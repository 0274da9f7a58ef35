"""Does pre-training learn? DINO, CrIBo and S3PT against random init, on a CPU.

One synthetic data set (20 street scenes x 4 keyframes x 6 cameras at 256x144: 384 train and
96 val images; small and distant road users, look-alike vehicles at every depth, long-tailed
classes), one pre-training budget for every method (``configs/_base_/
pretrain_probe_synthetic-cpu.py``: same images, crops, backbone, optimiser, iterations), three
seeds; each frozen EMA teacher and each seed's randomly initialised backbone is scored by a
linear segmentation probe and an object-level probe fitted to convergence
(:mod:`s3pt_mm.probing`). Prints the README table (mean ± std over seeds, gain over random
init with a one-sided paired t-test, ✓ = gain above 2 std) and writes ``results.json``.

    python benchmarks/pretrain_probe.py                 # the README's numbers (~1 h, 2 cores)
    python benchmarks/pretrain_probe.py --quick         # smoke test (a few minutes)
"""
import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='tiny scenes, 1 epoch, 1 seed: checks the protocol runs')
    parser.add_argument('--data-root', default=None,
                        help='scenes (generated when absent); default data/pretrain_probe '
                        '(or data/pretrain_probe_quick)')
    parser.add_argument('--work-dir', default=None, help='default work_dirs/pretrain_probe')
    parser.add_argument('--seeds', type=int, nargs='+', default=None)
    parser.add_argument('--methods', nargs='+', default=None,
                        choices=('dino', 'cribo', 's3pt'))
    parser.add_argument('--epochs', type=int, default=None,
                        help='pre-training epochs (default: the configs\')')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1: on a shared 2-core machine two threads per '
                        'process spend their time contending)')
    parser.add_argument('--merge', nargs='+', default=None, metavar='RESULTS_JSON',
                        help='only combine the results.json of separate runs (e.g. one '
                        'process per seed) into one table')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import dataclasses

    import torch

    import s3pt_mm  # noqa: F401  (registers everything)
    from s3pt_mm.probing.protocol import (FULL, QUICK, markdown_table, merge_results,
                                          run_protocol)
    torch.set_num_threads(args.threads)
    if args.merge:
        result = merge_results([Path(p) for p in args.merge])
        print(markdown_table(result['summary']))
        return result
    scale = QUICK if args.quick else FULL
    changes = {}
    if args.seeds:
        changes['seeds'] = tuple(args.seeds)
    if args.methods:
        changes['methods'] = tuple(args.methods)
    if args.epochs:
        changes['max_epochs'] = args.epochs
    scale = dataclasses.replace(scale, **changes)
    suffix = '_quick' if args.quick else ''
    data_root = Path(args.data_root or f'data/pretrain_probe{suffix}')
    work_dir = Path(args.work_dir or f'work_dirs/pretrain_probe{suffix}')
    start = time.time()
    result = run_protocol(scale, data_root, work_dir)
    print('\n' + markdown_table(result['summary']))
    print(f'\n{len(scale.seeds)} seed(s); cells: mean ± std over seeds (gain over the same '
          'seeds\' random init, one-sided paired t-test p, ✓ = gain > 2 std)')
    print(f'total {time.time() - start:.0f} s; results in {work_dir / "results.json"}')
    return result


if __name__ == '__main__':
    main()
