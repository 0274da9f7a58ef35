r"""Train one segmentation config at several learning rates and report the best mIoU.

    python tools/lr_sweep.py configs/segmenter/linear_vit-s16_160k_nuimages-512x512.py \
        [--lrs 8e-4 3e-4 8e-5] [--work-dir work_dirs/lr_sweep/NAME] [--cfg-options k=v ...]

Each learning rate is a separate ``tools/train.py`` run (``optim_wrapper.optimizer.lr=LR``) in
``WORK_DIR/lr_<LR>``; the paper reports, per pre-training method and dataset, the best result over
{8e-4, 3e-4, 8e-5} (supplementary §1.2.1). A run's result is its best validation mIoU (from
``scalars.json``); the table and ``WORK_DIR/lr_sweep.json`` list mIoU and per-class IoU of every
run. ``--skip-existing`` reuses runs that already logged a validation, ``--dry-run`` only prints
the commands.
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3pt_mm.segmentation.run_logs import best_validation  # noqa: E402

PAPER_LRS = (8e-4, 3e-4, 8e-5)
TRAIN_PY = str(Path(__file__).resolve().parent / 'train.py')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='segmentation config')
    parser.add_argument('--lrs', type=float, nargs='+', default=list(PAPER_LRS),
                        help='learning rates (default: the paper\'s 8e-4 3e-4 8e-5)')
    parser.add_argument('--work-dir', help='sweep folder; default work_dirs/lr_sweep/<config>')
    parser.add_argument('--metric', default='mIoU', help='validation metric to maximise')
    parser.add_argument('--skip-existing', action='store_true',
                        help='do not retrain a learning rate whose folder has a validation')
    parser.add_argument('--dry-run', action='store_true', help='print the commands only')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='passed to every tools/train.py run')
    return parser.parse_args(argv)


def run_dir(work_dir: str, lr: float) -> str:
    """``WORK_DIR/lr_<lr>`` with the learning rate written like ``8e-04``."""
    return osp.join(work_dir, f'lr_{lr:.0e}')


def train_command(config: str, lr: float, work_dir: str,
                  cfg_options: Sequence[str] = ()) -> List[str]:
    """The ``tools/train.py`` command line of one run."""
    return [sys.executable, TRAIN_PY, config, '--work-dir', work_dir, '--cfg-options',
            f'optim_wrapper.optimizer.lr={lr}', *cfg_options]


def format_table(results: Dict[str, Optional[dict]], metric: str) -> str:
    """One line per learning rate: metric and per-class IoU (in %)."""
    lines = []
    for lr, record in results.items():
        if record is None:
            lines.append(f'lr {lr}: no validation result')
            continue
        per_class = ', '.join(f'{k[4:]} {v:.2f}' for k, v in record.items()
                              if k.startswith('IoU.'))
        lines.append(f'lr {lr}: {metric} {record[metric]:.2f} (iter {record.get("step")})'
                     + (f' | {per_class}' if per_class else ''))
    return '\n'.join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    work_dir = args.work_dir or osp.join('work_dirs', 'lr_sweep',
                                         osp.splitext(osp.basename(args.config))[0])
    results: Dict[str, Optional[dict]] = {}
    failed = []
    for lr in args.lrs:
        out = run_dir(work_dir, lr)
        cmd = train_command(args.config, lr, out, args.cfg_options)
        if args.dry_run:
            print(' '.join(cmd))
            continue
        if not (args.skip_existing and best_validation(out, args.metric) is not None):
            print(f'[lr_sweep] lr={lr}: {" ".join(cmd)}', flush=True)
            if subprocess.run(cmd).returncode != 0:
                failed.append(lr)
        results[f'{lr:g}'] = best_validation(out, args.metric)
    if args.dry_run:
        return 0
    finished = {lr: r for lr, r in results.items() if r is not None}
    summary = dict(config=args.config, metric=args.metric, runs=results,
                   best_lr=max(finished, key=lambda k: finished[k][args.metric])
                   if finished else None)
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    with open(osp.join(work_dir, 'lr_sweep.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    print(format_table(results, args.metric))
    if summary['best_lr'] is not None:
        best = finished[summary['best_lr']]
        print(f'best: lr {summary["best_lr"]} -> {args.metric} {best[args.metric]:.2f} '
              f'(summary in {osp.join(work_dir, "lr_sweep.json")})')
    if failed:
        print(f'training failed for lr {failed}', file=sys.stderr)
    return 1 if failed or summary['best_lr'] is None else 0


if __name__ == '__main__':
    sys.exit(main())
