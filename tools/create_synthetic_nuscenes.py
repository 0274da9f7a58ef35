r"""Generate a procedural synthetic dataset in nuScenes format (+ dense depth and labels).

Example (the test-size dataset):
    python tools/create_synthetic_nuscenes.py --out data/synthetic_nuscenes \
        --scenes 2 --samples-per-scene 3 --seed 0 --image-size 400 225

Then ``NuScenes(version='v1.0-synthetic', dataroot=OUT)`` loads it and
``OUT/nuscenes_infos_{train,val}.pkl`` feed mmdet3d (data_prefix ``samples/<CHANNEL>``) or
``s3pt_mm.datasets.nuscenes_infos.load_nuscenes_infos``. See docs/synthetic_scenes.md.
"""
import argparse
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3pt_mm.synthetic import SyntheticConfig, generate_dataset  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='dataset root to write (nuScenes dataroot)')
    parser.add_argument('--scenes', type=int, default=2, help='number of scenes')
    parser.add_argument('--samples-per-scene', type=int, default=3,
                        help='keyframes per scene, 0.5 s apart (nuScenes scenes have ~40)')
    parser.add_argument('--seed', type=int, default=0,
                        help='dataset seed: the same seed and options give identical files')
    parser.add_argument('--image-size', type=int, nargs=2, default=(1600, 900),
                        metavar=('W', 'H'), help='camera image size; intrinsics are scaled '
                        'from nuScenes 1600x900 (smaller = much faster, e.g. 400 225 for tests)')
    parser.add_argument('--version', default='v1.0-synthetic',
                        help='nuScenes version folder, passed as NuScenes(version=...)')
    parser.add_argument('--val-scenes', type=int, default=None,
                        help='number of (last) scenes in the val split; default 20%% (>= 1)')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes generating scenes in parallel (output is identical)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    config = SyntheticConfig(num_scenes=args.scenes, samples_per_scene=args.samples_per_scene,
                             seed=args.seed, image_size=tuple(args.image_size),
                             version=args.version, num_val_scenes=args.val_scenes)
    total = args.scenes * args.samples_per_scene
    with tqdm(total=total, unit='sample', desc='synthetic nuScenes') as bar:
        summary = generate_dataset(args.out, config, workers=args.workers, progress=bar.update)
    print(f'wrote {summary.num_samples} samples to {summary.out_dir} in {summary.seconds:.1f} s '
          f'(version {summary.version}; train scenes {summary.train_scenes}, '
          f'val scenes {summary.val_scenes})')


if __name__ == '__main__':
    main()
