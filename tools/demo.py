"""`make demo`: S3PT end to end on synthetic driving scenes, on a CPU, in a few minutes.

1. generates synthetic nuScenes-format scenes (cameras, LiDAR, calibration, labels) if absent;
2. pre-trains S3PT (vMF head, depth-guided clustering from LiDAR + IP-Basic, object and
   cross-image losses, EMA teacher) with a small ViT and writes a checkpoint;
3. evaluates the frozen teacher backbone with a linear segmentation probe on the same scenes'
   label maps and prints mIoU with a per-class table.

    python tools/demo.py [--data-root data/synthetic_demo] [--work-dir work_dirs/demo]
"""
import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PRETRAIN_CONFIG = ROOT / 'configs/s3pt/demo_vit-tiny_synthetic-cpu.py'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_demo',
                        help='where the synthetic scenes are (generated when absent)')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='logs and checkpoints')
    parser.add_argument('--scenes', type=int, default=4, help='synthetic scenes to generate')
    parser.add_argument('--samples-per-scene', type=int, default=3)
    parser.add_argument('--image-size', type=int, nargs=2, default=(480, 270),
                        metavar=('W', 'H'))
    parser.add_argument('--epochs', type=int, default=None,
                        help='pre-training epochs (default: the demo config\'s)')
    parser.add_argument('--probe-iters', type=int, default=300,
                        help='linear-probe training iterations')
    parser.add_argument('--skip-probe', action='store_true', help='stop after pre-training')
    return parser.parse_args()


def banner(step: str) -> None:
    print(f'\n=== {step} ===', flush=True)


def ensure_scenes(args: argparse.Namespace) -> Path:
    from tqdm import tqdm

    from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
    data_root = Path(args.data_root)
    if (data_root / 'nuscenes_infos_train.pkl').is_file():
        print(f'using the synthetic scenes in {data_root}')
        return data_root
    start = time.time()
    config = SyntheticConfig(num_scenes=args.scenes, samples_per_scene=args.samples_per_scene,
                             image_size=tuple(args.image_size), seed=0)
    with tqdm(total=args.scenes * args.samples_per_scene, desc='generating', unit='sample') as bar:
        generate_dataset(str(data_root), config, progress=bar.update)
    print(f'generated {args.scenes} scenes x {args.samples_per_scene} samples x 6 cameras at '
          f'{args.image_size[0]}x{args.image_size[1]} in {time.time() - start:.1f} s '
          f'-> {data_root}')
    return data_root


def pretrain(args: argparse.Namespace, data_root: Path) -> Path:
    from mmengine.config import Config
    from mmengine.runner import Runner

    from s3pt_mm.engine.hooks import EpochLossRecorderHook

    cfg = Config.fromfile(str(PRETRAIN_CONFIG))
    cfg.work_dir = str(Path(args.work_dir) / 'pretrain')
    cfg.train_dataloader.dataset.data_root = str(data_root)
    if args.epochs is not None:
        cfg.train_cfg.max_epochs = args.epochs
        cfg.default_hooks.checkpoint.interval = args.epochs
    recorder = EpochLossRecorderHook(extra_keys=('teacher_entropy',))
    runner = Runner.from_cfg(cfg)
    runner.register_hook(recorder, priority='LOW')
    start = time.time()
    runner.train()
    epochs = recorder.epoch_losses
    print(f'\npre-training: {runner.max_epochs} epochs, {runner.iter} iterations in '
          f'{time.time() - start:.0f} s')
    print('mean loss per epoch (all active terms): ' +
          ', '.join(f'{e["loss"]:.3f}' for e in epochs))
    # The cross-image loss starts at epoch 1 (spec §6): compare the terms active throughout.
    first, last, names = recorder.common_total(epochs[0], epochs[-1])
    trend = 'decreased' if last < first else 'did NOT decrease'
    print(f'loss ({" + ".join(names)}) {trend}: {first:.3f} (epoch 1) -> {last:.3f} '
          f'(epoch {len(epochs)})')
    checkpoint = Path(cfg.work_dir) / f'epoch_{runner.max_epochs}.pth'
    if 'teacher_entropy' in epochs[0]:
        # ln P: uniform targets (nothing to learn); near 0: every image on one prototype.
        num_prototypes = cfg.model.head.out_channels
        print(f'teacher target entropy: {epochs[0]["teacher_entropy"]:.2f} (epoch 1) -> '
              f'{epochs[-1]["teacher_entropy"]:.2f} (epoch {len(epochs)}); uniform would be '
              f'ln {num_prototypes} = {math.log(num_prototypes):.2f}, a collapse onto one '
              'prototype ~0')
    print(f'checkpoint: {checkpoint}')
    return checkpoint


def probe(args: argparse.Namespace, data_root: Path, checkpoint: Path) -> None:
    from s3pt_mm.segmentation.demo_probe import run_linear_probe
    run_linear_probe(checkpoint=checkpoint, data_root=data_root,
                     work_dir=Path(args.work_dir) / 'linear_probe',
                     pretrain_config=PRETRAIN_CONFIG, max_iters=args.probe_iters)


def main() -> None:
    args = parse_args()
    import s3pt_mm  # noqa: F401  (registers everything)
    banner('1/3 synthetic driving scenes')
    data_root = ensure_scenes(args)
    banner('2/3 S3PT pre-training on CPU')
    checkpoint = pretrain(args, data_root)
    if args.skip_probe:
        return
    banner('3/3 linear segmentation probe on the frozen teacher backbone')
    probe(args, data_root, checkpoint)


if __name__ == '__main__':
    main()
