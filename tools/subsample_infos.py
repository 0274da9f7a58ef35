r"""Keep a subset of an mmdet3d info pkl: the labelled split of a few-label fine-tuning run.

    python tools/subsample_infos.py data/nuscenes/nuscenes_infos_train.pkl \
        data/nuscenes/nuscenes_infos_train_10pct.pkl --ratio 0.1
    python tools/subsample_infos.py IN.pkl OUT.pkl --num-scenes 1     # the first scene only

``--ratio r`` keeps round(r * N) samples spread evenly over the file (every 1/r-th sample,
deterministic; ``--seed`` draws them at random instead), which samples every scene the way the
few-label nuScenes protocols do. ``--num-scenes k`` keeps every sample of the first k scenes
(scenes = runs of samples whose LiDAR files share the log name before ``__``, in file order).
``metainfo`` is kept and records the subset.
"""
import argparse
import pickle
from pathlib import Path
from typing import List, Optional

import numpy as np


def subsample_indices(num: int, ratio: float, seed: Optional[int] = None) -> List[int]:
    """Indices of ``round(ratio * num)`` samples (at least 1 when ``num`` > 0).

    Args:
        num (int): number of samples.
        ratio (float): kept fraction in (0, 1].
        seed (Optional[int]): None = evenly spaced ``floor(k * num / keep)``; else a sorted
            random draw without replacement from ``numpy.random.default_rng(seed)``.

    Returns:
        List[int]: ascending indices.

    Raises:
        ValueError: if ``ratio`` is not in (0, 1].
    """
    if not 0 < ratio <= 1:
        raise ValueError(f'--ratio must be in (0, 1], got {ratio}')
    if num == 0:
        return []
    keep = max(1, int(round(ratio * num)))
    if seed is None:
        return [int(k * num // keep) for k in range(keep)]
    return sorted(np.random.default_rng(seed).choice(num, keep, replace=False).tolist())


def scene_of(info: dict) -> str:
    """The log name of a sample (its LiDAR file name up to ``__``)."""
    return Path(info['lidar_points']['lidar_path']).name.split('__')[0]


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('src', help='input info pkl')
    p.add_argument('dst', help='output info pkl')
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument('--ratio', type=float, help='fraction of samples to keep, in (0, 1]')
    group.add_argument('--num-scenes', type=int, help='keep the first N scenes')
    p.add_argument('--seed', type=int, default=None, help='random subset for --ratio')
    args = p.parse_args(argv)
    with open(args.src, 'rb') as f:
        infos = pickle.load(f)
    if not isinstance(infos, dict) or 'data_list' not in infos:
        raise ValueError(f'{args.src}: not an mmdet3d info file (no data_list)')
    data = infos['data_list']
    if args.ratio is not None:
        idx = subsample_indices(len(data), args.ratio, args.seed)
        how = dict(ratio=args.ratio, seed=args.seed)
    else:
        if args.num_scenes < 1:
            raise ValueError(f'--num-scenes must be >= 1, got {args.num_scenes}')
        scenes: List[str] = []
        for i, info in enumerate(data):
            try:
                name = scene_of(info)
            except (KeyError, TypeError):
                raise ValueError(f'{args.src}: sample {i} has no lidar_points.lidar_path') \
                    from None
            if name not in scenes:
                scenes.append(name)
        chosen = set(scenes[:args.num_scenes])
        idx = [i for i, info in enumerate(data) if scene_of(info) in chosen]
        how = dict(num_scenes=args.num_scenes, scenes=sorted(chosen))
    out = dict(metainfo=dict(infos.get('metainfo', {}), subset=dict(how, source=str(args.src),
                                                                    num_samples=len(idx))),
               data_list=[data[i] for i in idx])
    dst = Path(args.dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(dst, 'wb') as f:
        pickle.dump(out, f)
    print(f'wrote {dst}: {len(idx)} of {len(data)} samples')
    return dst


if __name__ == '__main__':
    main()
