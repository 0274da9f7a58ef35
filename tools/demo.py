"""`make demo`: S3PT end to end on synthetic driving scenes, on a CPU, in about ten minutes.

1. generates synthetic nuScenes-format scenes (cameras, LiDAR, calibration, labels) and the
   completed LiDAR depth of every image (z-buffer projection + IP-Basic), if absent;
2. pre-trains S3PT (vMF head, depth-guided clustering, object and cross-image losses, EMA
   teacher) with the config of the pre-training protocol
   (``configs/s3pt/probe_vit-tiny-p8_synthetic-cpu.py``, README "Does pre-training learn?"),
   logging to TensorBoard, and writes a checkpoint;
3. scores the frozen teacher and the same seed's randomly initialised backbone with the
   protocol's probes (linear segmentation, object classification) and prints one line;
4. writes pictures for a few validation images (camera, completed LiDAR depth, the teacher's
   spatial clusters with and without the depth term, probe segmentation, ground truth) to
   ``<work-dir>/pictures`` and TensorBoard (``tensorboard --logdir <work-dir>``).

    python tools/demo.py [--data-root data/synthetic_demo] [--work-dir work_dirs/demo]

The numbers of the README table come from ``benchmarks/pretrain_probe.py`` (3 methods, 3
seeds, more scenes); the demo is one seed of S3PT on fewer scenes.
"""
import argparse
import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_demo',
                        help='where the synthetic scenes are (generated when absent)')
    parser.add_argument('--work-dir', default='work_dirs/demo', help='logs, checkpoint, pictures')
    parser.add_argument('--scenes', type=int, default=10, help='synthetic scenes to generate')
    parser.add_argument('--epochs', type=int, default=None,
                        help='pre-training epochs (default: the config\'s)')
    parser.add_argument('--pictures', type=int, default=4, help='validation images to draw')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--skip-probe', action='store_true', help='stop after pre-training')
    return parser.parse_args()


def banner(step: str) -> None:
    print(f'\n=== {step} ===', flush=True)


def main() -> None:
    args = parse_args()
    import s3pt_mm  # noqa: F401  (registers everything)
    from s3pt_mm.probing.protocol import (FULL, evaluate, load_probe_data, method_config,
                                          pretrain)
    from s3pt_mm.probing.scenes import object_statistics, prepare_scenes, scene_config
    from s3pt_mm.probing.visualise import write_pictures

    scale = dataclasses.replace(FULL, num_scenes=args.scenes, num_val_scenes=2,
                                seeds=(args.seed,), methods=('s3pt',), max_epochs=args.epochs)
    data_root, work_dir = Path(args.data_root), Path(args.work_dir)

    banner('1/4 synthetic driving scenes + completed LiDAR depth')
    start = time.time()
    config = scene_config(scale.num_scenes, scale.samples_per_scene, scale.image_size,
                          scale.num_val_scenes)
    prepare_scenes(data_root, config)
    print(f'{scale.num_scenes} scenes x {scale.samples_per_scene} samples x 6 cameras at '
          f'{scale.image_size[0]}x{scale.image_size[1]} in {data_root} '
          f'({time.time() - start:.0f} s)')

    banner('2/4 S3PT pre-training on CPU')
    cfg = method_config('s3pt', data_root, work_dir / 'pretrain', args.seed, scale.max_epochs)
    max_epochs = cfg.train_cfg.max_epochs
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=max_epochs)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend'),
                                   dict(type='TensorboardVisBackend')]
    start = time.time()
    teacher, init, epochs, model = pretrain(cfg)
    print(f'\npre-training: {max_epochs} epochs in {time.time() - start:.0f} s')
    print('mean loss per epoch (all active terms): ' +
          ', '.join(f'{e["loss"]:.3f}' for e in epochs))
    if 'teacher_entropy' in epochs[0]:
        print(f'teacher target entropy: {epochs[0]["teacher_entropy"]:.2f} (epoch 1) -> '
              f'{epochs[-1]["teacher_entropy"]:.2f} (epoch {len(epochs)})')
    print(f'checkpoint: {Path(cfg.work_dir) / f"epoch_{max_epochs}.pth"}')
    if args.skip_probe:
        return

    banner('3/4 probes: frozen teacher vs random init')
    start = time.time()
    data = load_probe_data(data_root, scale, cfg)
    stats = object_statistics(data.val, data.patch_size)
    ours = evaluate(teacher, data, keep_predictions=args.pictures)
    rand = evaluate(init, data)
    print(f'{len(data.train)} train / {len(data.val)} val images, {stats["num_objects"]} val '
          f'objects ({time.time() - start:.0f} s)')
    print(f'S3PT teacher vs random init (same protocol, demo scale, seed {args.seed}): '
          f'seg. mIoU {ours["seg_mIoU"]:.1f} vs {rand["seg_mIoU"]:.1f} | object balanced '
          f'accuracy linear {ours["obj_linear"]:.1f} vs {rand["obj_linear"]:.1f}, k-NN '
          f'{ours["obj_knn"]:.1f} vs {rand["obj_knn"]:.1f}')

    banner('4/4 pictures')
    paths = write_pictures(model, data.val[:args.pictures], ours['predictions'],
                           work_dir / 'pictures', tensorboard_dir=work_dir / 'tensorboard')
    print(f'{len(paths)} pictures in {work_dir / "pictures"} (also in TensorBoard: '
          f'tensorboard --logdir {work_dir})')


if __name__ == '__main__':
    main()
