r"""Evaluate a segmentation checkpoint: mIoU, per-class IoU table, optional pictures.

    python tools/test_seg.py CONFIG CHECKPOINT [--show-dir DIR] [--show-max N] [--out FILE]

CONFIG is the training config (or a test-only config, e.g. configs/segmenter/dg/*); CHECKPOINT a
``tools/train.py`` checkpoint (e.g. ``best_mIoU_iter_*.pth``). ``--show-dir`` writes an
``image | prediction | ground truth`` picture per test image (``SegComparisonHook``); ``--out``
saves the metrics as strict JSON (a NaN
metric, e.g. the IoU of a class absent from the test set, is written as ``null``).
``tools/test.py`` is the general test tool (mmseg's visualization hook, distributed runs).
"""
import argparse
import json
import os.path as osp
import sys
from pathlib import Path

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import s3pt_mm  # noqa: E402,F401  registers the checkpoint allow-list
import s3pt_mm.segmentation  # noqa: E402,F401  registers datasets, metrics, hooks
from s3pt_mm.utils.json_io import dump_json, json_safe  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='segmentation config')
    parser.add_argument('checkpoint', help='trained segmentation checkpoint')
    parser.add_argument('--work-dir', help='logs; default ./work_dirs/<config>/test')
    parser.add_argument('--show-dir', help='write image | prediction | ground truth PNGs here')
    parser.add_argument('--show-max', type=int, default=20,
                        help='at most this many pictures (default 20)')
    parser.add_argument('--out', help='write the metrics to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=2')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """The config with the checkpoint, work dir, command-line overrides and picture hook."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.load_from = args.checkpoint
    cfg.work_dir = args.work_dir or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0], 'test')
    if args.show_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(dict(type='SegComparisonHook', out_dir=osp.abspath(args.show_dir),
                          max_images=args.show_max))
        cfg.custom_hooks = hooks
    return cfg


def main(argv=None) -> dict:
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    runner = Runner.from_cfg(build_config(args))
    metrics = runner.test()
    print(json.dumps(json_safe(metrics), indent=2))
    if args.out:
        dump_json(metrics, args.out)
    return metrics


if __name__ == '__main__':
    main()
