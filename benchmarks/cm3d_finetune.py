r"""CM3D on synthetic scenes: does pre-training on pseudo-labels help few-label fine-tuning?

    python benchmarks/cm3d_finetune.py --work-dir work_dirs/cm3d_bench          # the figures
    python benchmarks/cm3d_finetune.py --work-dir /tmp/cm3d_quick --quick       # smoke run

1. generate synthetic scenes (the last ``--val-scenes`` are held out);
2. CM3D pseudo-labels of every train scene from the generator's instance masks
   (``tools/cm3d/generate_pseudo_labels.py``, no ground truth used);
3. the labelled subset: the ground truth of the first train scene
   (``tools/subsample_infos.py --num-scenes 1``);
4. per seed: the CPU-sized CenterPoint (``configs/cm3d/centerpoint_tiny_synthetic-cpu_*``)
   pre-trained on the pseudo-labels, then fine-tuned on the labelled scene; and the same
   fine-tuning from random initialisation; both evaluated on the held-out scenes with nuScenes
   mAP / NDS (``NuScenesRangeMetric``).

Prints mean +- std over the seeds and writes ``results.json`` in the work dir. Outside CI (it
trains for minutes to hours on a CPU); ``--quick`` (one epoch each, tiny scenes) is run by
``tests/test_cm3d/test_benchmark_quick.py`` to keep the script working.
"""
import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIGS = REPO / 'configs' / 'cm3d'


def _tool(rel: str):
    spec = importlib.util.spec_from_file_location(Path(rel).stem, REPO / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--work-dir', required=True)
    p.add_argument('--quick', action='store_true', help='smoke run: tiny scenes, 1 epoch each')
    p.add_argument('--scenes', type=int, default=6, help='scenes generated (train + val)')
    p.add_argument('--val-scenes', type=int, default=2, help='held-out scenes (the last ones)')
    p.add_argument('--samples-per-scene', type=int, default=4)
    p.add_argument('--image-size', type=int, nargs=2, default=(800, 450))
    p.add_argument('--data-seed', type=int, default=11)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--pretrain-epochs', type=int, default=20)
    p.add_argument('--finetune-epochs', type=int, default=20)
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads (1 is fastest on a loaded 2-core CPU)')
    args = p.parse_args(argv)
    if args.quick:
        args.scenes, args.val_scenes, args.samples_per_scene = 2, 1, 1
        args.image_size, args.seeds = (320, 180), args.seeds[:1]
        args.pretrain_epochs = args.finetune_epochs = 1
    return args


def prepare_data(args, root: Path) -> None:
    """Scenes, pseudo-labels of the train split, the one-scene labelled subset."""
    from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
    if not (root / 'nuscenes_infos_val.pkl').is_file():
        generate_dataset(str(root), SyntheticConfig(
            num_scenes=args.scenes, samples_per_scene=args.samples_per_scene,
            seed=args.data_seed, image_size=tuple(args.image_size),
            num_val_scenes=args.val_scenes))
    if not (root / 'cm3d_infos_train.pkl').is_file():
        _tool('tools/cm3d/generate_pseudo_labels.py').main([
            '--data-root', str(root), '--ann-file', 'nuscenes_infos_train.pkl', '--out',
            str(root / 'cm3d_infos_train.pkl'), '--no-nuscenes-metric'])
    _tool('tools/subsample_infos.py').main([
        str(root / 'nuscenes_infos_train.pkl'), str(root / 'nuscenes_infos_train_1scene.pkl'),
        '--num-scenes', '1'])


def run(config: str, root: Path, work_dir: Path, epochs: int, seed: int,
        load_from=None, evaluate: bool = True) -> dict:
    """Train one config (and test it on the held-out scenes); returns the test metrics."""
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(str(CONFIGS / config))
    data_root = str(root) + '/'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = data_root
    for ev in ('val_evaluator', 'test_evaluator'):
        cfg[ev].data_root = data_root
        cfg[ev].ann_file = data_root + 'nuscenes_infos_val.pkl'
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed)
    cfg.train_cfg.max_epochs = epochs
    # No validation during training (mmengine would validate after the last epoch): one test.
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.param_scheduler = [dict(s, T_max=epochs, end=epochs) for s in cfg.param_scheduler]
    cfg.load_from = load_from
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs,
                                        max_keep_ckpts=1)
    cfg.default_hooks.visualization = dict(type='Det3DVisualizationHook')
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    if not evaluate:
        return {}
    metrics = runner.test()
    return {k.split('/')[-1]: float(v) for k, v in metrics.items()
            if k.endswith('/mAP') or k.endswith('/NDS')}


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    import s3pt_mm  # noqa: F401  (registers the modules, enables the spconv CPU backward)
    work = Path(args.work_dir)
    root = work / 'data'
    start = time.perf_counter()
    prepare_data(args, root)
    rows = {'cm3d_pretrain_finetune': [], 'scratch': []}
    for seed in args.seeds:
        pre_dir = work / f'pretrain_seed{seed}'
        run('centerpoint_tiny_synthetic-cpu_cm3d-pretrain.py', root, pre_dir,
            args.pretrain_epochs, seed, evaluate=False)
        ckpt = str(pre_dir / f'epoch_{args.pretrain_epochs}.pth')
        rows['cm3d_pretrain_finetune'].append(run(
            'centerpoint_tiny_synthetic-cpu_finetune-1scene.py', root,
            work / f'finetune_seed{seed}', args.finetune_epochs, seed, load_from=ckpt))
        rows['scratch'].append(run('centerpoint_tiny_synthetic-cpu_scratch-1scene.py', root,
                                   work / f'scratch_seed{seed}', args.finetune_epochs, seed))
    summary = {'args': {k: v for k, v in vars(args).items()}, 'seconds':
               time.perf_counter() - start, 'runs': rows}
    for name, runs in rows.items():
        for key in ('mAP', 'NDS'):
            vals = np.array([r.get(key, float('nan')) for r in runs])
            summary[f'{name}/{key}'] = (float(vals.mean()), float(vals.std()))
    (work / 'results.json').write_text(json.dumps(summary, indent=2))
    print(f'held-out scenes: {args.val_scenes}, seeds {args.seeds}, '
          f'{summary["seconds"]:.0f} s')
    for name in rows:
        m, s = summary[f'{name}/mAP']
        n, t = summary[f'{name}/NDS']
        print(f'{name:24s} mAP {m:.4f} +- {s:.4f}   NDS {n:.4f} +- {t:.4f}')
    return summary


if __name__ == '__main__':
    main()
