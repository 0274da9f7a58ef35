r"""Test a trained checkpoint with an mmengine Runner (segmentation or 3D detection).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.json]
                         [--show] [--show-dir DIR] [--wait-time S] [--task TASK]
                         [--score-thr T] [--cfg-options key=value ...]
                         [--launcher {none,pytorch,slurm,mpi}]

Single process on CPU or one GPU, or one of the processes started by ``tools/dist_test.sh``.
The task follows the config's ``default_scope``:

- ``mmseg`` (Segmenter, linear probes): pictures through mmseg's ``SegVisualizationHook``, as
  mmseg's own ``tools/test.py`` sets it up (``--show-dir`` becomes the visualizer's
  ``save_dir``; the pictures land under ``DIR/vis_data/vis_image``);
- ``mmdet3d`` (PETR, CenterPoint, MinkUNet): pictures through mmdet3d's
  ``Det3DVisualizationHook`` with ``test_out_dir=DIR`` and ``vis_task`` from ``--task``, as
  mmdet3d's ``tools/test.py`` does, with its default ``mono_det``: for PETR's six cameras it
  saves one picture per sample, the camera images in a 2 x 3 grid with the predicted boxes
  projected (mmdet3d's ``multi-view_det`` needs open3d and saves nothing without a display).
  The hook reads the images from disk at their original size while ``lidar2img`` in the
  sample's meta is that of the resized network input, so with a resizing pipeline the drawn
  boxes are scaled accordingly (the same in mmdet3d).

Pre-training configs (``default_scope='mmpretrain'``) have no test loop and are refused.

``--out FILE.json`` writes the test metrics as strict JSON: a metric that is NaN or infinite
(e.g. the IoU of a class absent from the test set) is written as ``null``. This differs from
mmseg, whose ``--out`` is a folder for prediction PNGs; keep those with
``--cfg-options test_evaluator.output_dir=DIR test_evaluator.keep_results=True`` where the
metric supports it.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import s3pt_mm  # noqa: F401  registers s3pt_mm modules and the checkpoint allow-list
from s3pt_mm.utils.json_io import dump_json

#: ``default_scope`` -> the visualization hook that scope's test tool turns on.
VIS_HOOKS = {'mmseg': 'SegVisualizationHook', 'mmdet3d': 'Det3DVisualizationHook'}
#: ``--task`` choices of mmdet3d's visualization hook.
DET3D_TASKS = ('mono_det', 'multi-view_det', 'lidar_det', 'lidar_seg', 'multi-modality_det')


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='test (or training) config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs go; default ./work_dirs/<config name>')
    parser.add_argument('--out', help='write the test metrics to this JSON file')
    parser.add_argument('--show', action='store_true', help='show predictions in a window')
    parser.add_argument('--show-dir', help='save pictures of the predictions in this folder')
    parser.add_argument('--wait-time', type=float, default=2, help='seconds per shown picture')
    parser.add_argument('--task', choices=DET3D_TASKS, default='mono_det',
                        help='what the 3D visualizer draws (mmdet3d configs only)')
    parser.add_argument('--score-thr', type=float, default=0.1,
                        help='score threshold of drawn boxes (mmdet3d configs only)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, e.g. test_dataloader.batch_size=2')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (set by dist_test.sh)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _trigger_visualization(cfg: Config, args: argparse.Namespace, scope: str) -> None:
    """Turn on the scope's visualization hook the way that scope's test tool does.

    Raises:
        RuntimeError: the config's ``default_hooks`` has no ``visualization`` entry.
    """
    hooks = cfg.get('default_hooks', {})
    if 'visualization' not in hooks:
        raise RuntimeError(
            f"--show/--show-dir need default_hooks.visualization (a {VIS_HOOKS[scope]}) in "
            f'{args.config}; the config has none')
    hook = hooks['visualization']
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if scope == 'mmseg':
        if args.show_dir:
            cfg.visualizer['save_dir'] = osp.abspath(args.show_dir)
    else:
        if args.show_dir:
            # Absolute, so the hook's join with work_dir/timestamp keeps it unchanged.
            hook['test_out_dir'] = osp.abspath(args.show_dir)
        hook['vis_task'] = args.task
        hook['score_thr'] = args.score_thr


def build_config(args: argparse.Namespace) -> Config:
    """The config with checkpoint, work dir, launcher, overrides and visualization.

    Raises:
        ValueError: the config's ``default_scope`` is not a task with a test loop.
    """
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    scope = cfg.get('default_scope')
    if scope not in VIS_HOOKS:
        raise ValueError(
            f"{args.config}: default_scope {scope!r} has no test tool (expected one of "
            f'{sorted(VIS_HOOKS)}); pre-training configs are evaluated downstream')
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.show or args.show_dir:
        _trigger_visualization(cfg, args, scope)
    return cfg


def main(argv=None) -> dict:
    """Run the test loop; returns the metrics dict.

    Raises:
        FileNotFoundError: the checkpoint does not exist.
    """
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    runner = Runner.from_cfg(build_config(args))
    metrics = runner.test()
    if args.out and runner.rank == 0:
        dump_json(metrics, args.out)
    return metrics


if __name__ == '__main__':
    main()
