r"""Complete LiDAR depth for every camera image of a dataset once, and store it on disk.

Training then reads it with ``LoadPrecomputedDepth`` instead of projecting and completing
depth every epoch (~30 ms per 1600x900 image). Storage: one 16-bit PNG per image in
centimetres (range (0.1, 655.35] m, 1 cm steps; ~0.2-0.3 MB for a real nuScenes image) at
``<data-root>/<depth-prefix>/<CHANNEL>/<image stem>.png`` — the path
``NuScenesCameraDataset(depth_prefix=...)`` gives the pipeline. See docs/data_preparation.md.

Resumable: an existing file that decodes as a 16-bit PNG is skipped (``--overwrite`` redoes
everything); files are written to ``*.tmp`` and renamed, so an interrupted run leaves no
truncated PNG.

Every input is checked (docs/data_validation.md): the info entries, each image file (header,
size, calibration), each LiDAR file (size, column plausibility) and each completed map
(finite, within ``max_depth``). The first bad input stops the run with an error naming the file,
the sample and the problem; with ``--skip-bad`` bad samples are left out instead, listed in a
JSON report (``--report``, default ``<depth dir>/skipped_samples.json``) and counted at the end.

Examples:
    # real nuScenes, from mmdet3d's info files (run once per split)
    python tools/precompute_depth.py --data-root data/nuscenes \
        --ann-file nuscenes_infos_train.pkl --workers 8
    # from the devkit tables, keyframes and camera sweeps of the train split
    python tools/precompute_depth.py --data-root data/nuscenes --version v1.0-trainval \
        --split train --with-sweeps --workers 8
    # leave out (and list) broken samples instead of stopping at the first
    python tools/precompute_depth.py --data-root data/nuscenes \
        --ann-file nuscenes_infos_train.pkl --img-shape 900 1600 --skip-bad
"""
import argparse
import collections
import json
import multiprocessing
import os
import os.path as osp
import sys
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3pt_mm.datasets import NUSCENES_CAMERAS, NuScenesCameraDataset  # noqa: E402
from s3pt_mm.datasets.depth_io import load_depth_png, save_depth_png  # noqa: E402
from s3pt_mm.datasets.transforms.sample_context import describe_sample  # noqa: E402
from s3pt_mm.datasets.validation import check_depth_map, read_image_size  # noqa: E402

_pipeline = None
_skip_bad = False
#: IP-Basic's inversion offset (CompleteDepth's default): no completed depth exceeds it.
MAX_DEPTH = 100.0


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True, help='nuScenes dataroot')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--ann-file', help='mmdet3d info pkl (relative to --data-root)')
    source.add_argument('--version', help='nuscenes-devkit version folder, e.g. v1.0-trainval')
    parser.add_argument('--split', default=None,
                        help='devkit only: split name (train, val, mini_train, ...); '
                        'default every scene')
    parser.add_argument('--with-sweeps', action='store_true',
                        help='devkit only: also the non-keyframe camera images')
    parser.add_argument('--files-beside-pkl', action='store_true',
                        help='images and LiDAR lie beside the pkl, not under samples/<CHANNEL>')
    parser.add_argument('--cameras', nargs='+', default=list(NUSCENES_CAMERAS))
    parser.add_argument('--depth-prefix', default='depth_completed',
                        help='output folder below --data-root (the dataset\'s depth_prefix)')
    parser.add_argument('--method', default='fill_in_fast',
                        choices=('fill_in_fast', 'fill_in_multiscale'),
                        help='IP-Basic variant (docs/method.md §4 default: fill_in_fast)')
    parser.add_argument('--no-extrapolate', action='store_true',
                        help='do not extend depth to the image top (S3PT extrapolates so '
                        'that ~99%% of nuScenes pixels get a depth instead of ~20%%)')
    parser.add_argument('--blur-type', default='bilateral', choices=('bilateral', 'gaussian'))
    parser.add_argument('--workers', type=int, default=1, help='parallel processes')
    parser.add_argument('--overwrite', action='store_true', help='recompute existing files')
    parser.add_argument('--img-shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='info-file source: the size every image must have (nuScenes: '
                        '900 1600); the devkit tables state it per image')
    parser.add_argument('--skip-bad', action='store_true',
                        help='leave out samples that fail a check, list them in --report and '
                        'count them at the end, instead of stopping at the first')
    parser.add_argument('--report', default=None,
                        help='JSON report of the skipped samples (with --skip-bad); default '
                        '<depth dir>/skipped_samples.json')
    return parser.parse_args(argv)


def build_dataset(args: argparse.Namespace) -> NuScenesCameraDataset:
    """The dataset whose items' ``depth_path`` the tool writes (no pipeline)."""
    source = (dict(ann_file=args.ann_file) if args.ann_file else
              dict(version=args.version, split=args.split, with_sweeps=args.with_sweeps))
    if args.files_beside_pkl:
        source['data_prefix'] = {}
    if args.img_shape is not None:
        if args.version:
            raise ValueError('--img-shape is for the info-file source (--ann-file); the devkit '
                             'tables state each image\'s size')
        source['img_shape'] = tuple(args.img_shape)
    # serialize_data=False: the tool reads each info once; mmengine's serialisation exists to
    # share the list between dataloader workers and costs a full gc.collect().
    return NuScenesCameraDataset(data_root=args.data_root, cameras=args.cameras,
                                 depth_prefix=args.depth_prefix, pipeline=[],
                                 skip_bad_samples=args.skip_bad, serialize_data=False,
                                 **source)


def depth_pipeline(args: argparse.Namespace) -> list:
    """Transforms that turn a dataset item into ``results['depth']`` (completed depth)."""
    return [
        dict(type='LoadCameraImage'),
        dict(type='LoadLidarPoints'),
        dict(type='ProjectLidarToDepth'),
        dict(type='CompleteDepth', method=args.method, extrapolate=not args.no_extrapolate,
             blur_type=args.blur_type, max_depth=MAX_DEPTH),
    ]


def is_done(path: str) -> bool:
    """True when ``path`` exists and decodes as a 16-bit depth PNG."""
    try:
        load_depth_png(path)
    except (FileNotFoundError, ValueError):
        return False
    return True


def infer_image_sizes(infos: List[dict]) -> int:
    """Give images of unrecorded size the size of the majority of their calibration group.

    mmdet3d's nuScenes infos do not record image sizes. Images of one channel with the same
    intrinsics come from one camera and must have one size; when such a group disagrees and
    one size holds a strict majority, every member gets that size as ``expected_img_shape``,
    so ``LoadCameraImage`` refuses the others (a resized or foreign image) naming the file.
    Only headers are read (:func:`read_image_size`); unreadable files are left to the pipeline.

    Args:
        infos (List[dict]): dataset items (modified in place).

    Returns:
        int: the number of images whose size disagrees with their group's majority.
    """
    groups = collections.defaultdict(list)
    for info in infos:
        if info.get('expected_img_shape') is not None:
            continue
        try:
            size = read_image_size(info['img_path'])
        except (ValueError, OSError):
            continue  # reported, with the file's name, when the pipeline loads it
        k = np.round(np.asarray(info['cam2img'], dtype=np.float64)[:3, :3], 3)
        groups[(info['channel'], k.tobytes())].append((info, size))
    outliers = 0
    for (channel, _), members in groups.items():
        counts = collections.Counter(size for _, size in members)
        size, count = counts.most_common(1)[0]
        if len(counts) == 1 or 2 * count <= len(members):
            continue
        outliers += len(members) - count
        for info, _ in members:
            info['expected_img_shape'] = size
            info['expected_img_shape_source'] = (f'{count} of the {len(members)} {channel} '
                                                 'images with the same calibration are')
    return outliers


def _init_worker(pipeline_cfg: list, skip_bad: bool = False) -> None:
    global _pipeline, _skip_bad
    import cv2
    from mmcv.transforms import Compose
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import TRANSFORMS
    cv2.setNumThreads(1)  # one image per process; threads would oversubscribe the cores
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        _pipeline = Compose([TRANSFORMS.build(t) for t in pipeline_cfg])
    _skip_bad = skip_bad


def _bad_record(info: dict, error: BaseException) -> dict:
    """One line of the report: which image / sample, which files, what was wrong."""
    return dict(sample_idx=info.get('sample_idx'), sample_token=info.get('sample_token'),
                channel=info.get('channel'), img_path=info.get('img_path'),
                lidar_path=info.get('lidar_path'), error_type=type(error).__name__,
                error=str(error))


def _complete(info: dict) -> Tuple[str, Optional[float], Optional[dict]]:
    """Compute, check and write one image's depth.

    Returns:
        (depth path, valid pixel fraction, None), or with ``--skip-bad`` for a sample that
        fails a check (depth path, None, report record).
    """
    try:
        results = _pipeline(dict(info))
        depth = results['depth']
        check_depth_map(depth, max_depth=MAX_DEPTH, img_shape=results['img'].shape[:2],
                        where=f'{describe_sample(info)}: completed depth')
        save_depth_png(info['depth_path'], depth)
    except (ValueError, OSError) as e:  # DataValidationError, FileNotFoundError, ...
        if not _skip_bad:
            raise
        return info['depth_path'], None, _bad_record(info, e)
    return info['depth_path'], float((depth > 0.1).mean()), None


def _write_report(path: str, counts: dict, bad: List[dict], empty: List[str]) -> None:
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(dict(counts, skipped_samples=bad, empty_maps=empty), f, indent=1)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool.

    Returns:
        dict: ``written`` (maps written), ``skipped`` (already done), ``bad`` (images left out
        by ``--skip-bad``: failing items plus every camera of a failing info entry),
        ``mean_valid_fraction`` of the written maps, ``empty`` (written maps without any
        depth: no LiDAR point in view, reported as a warning), and ``report`` (the report's
        path, or None without ``--skip-bad``).
    """
    args = parse_args(argv)
    dataset = build_dataset(args)
    bad = [dict(sample_idx=b.index, sample_token=b.token, channel=None, img_path=None,
                lidar_path=None, error_type=type(b.error).__name__, error=str(b.error))
           for b in dataset.bad_samples]
    bad_images = len(bad) * len(args.cameras)  # a bad info entry loses all its cameras
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if not args.version and args.img_shape is None:  # sizes unknown: compare like with like
        infer_image_sizes(infos)
    todo = [info for info in infos if args.overwrite or not is_done(info['depth_path'])]
    skipped = len(infos) - len(todo)
    print(f'{len(infos)} images, {skipped} already done, writing {len(todo)} to '
          f'{dataset.depth_root}')
    pipeline_cfg = depth_pipeline(args)
    fractions, empty = [], []
    with tqdm(total=len(todo), unit='img', desc='precompute depth') as bar:
        if args.workers <= 1:
            _init_worker(pipeline_cfg, args.skip_bad)
            outputs = map(_complete, todo)
            pool = None
        else:
            ctx = multiprocessing.get_context('spawn')
            pool = ctx.Pool(args.workers, initializer=_init_worker,
                            initargs=(pipeline_cfg, args.skip_bad))
            outputs = pool.imap_unordered(_complete, todo, chunksize=4)
        try:
            for path, fraction, record in outputs:
                if record is None:
                    fractions.append(fraction)
                    if fraction == 0.0:
                        empty.append(path)
                else:
                    bad.append(record)
                    bad_images += 1
                bar.update()
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()
    written = len(fractions)
    mean_valid = sum(fractions) / len(fractions) if fractions else float('nan')
    print(f'wrote {written} depth maps (mean valid pixel fraction {mean_valid:.3f}), '
          f'skipped {skipped} already done')
    if empty:  # a documented result (no LiDAR point in view), but worth a look when frequent
        print(f'warning: {len(empty)} of the written maps hold no depth at all (no LiDAR '
              f'point in the camera\'s view; check the calibration if this is frequent), '
              f'e.g. {sorted(empty)[0]}')
    report = None
    if args.skip_bad:
        report = args.report or osp.join(dataset.depth_root, 'skipped_samples.json')
        counts = dict(images=len(infos) + len(dataset.bad_samples) * len(args.cameras),
                      written=written, already_done=skipped, bad_images=bad_images,
                      bad_info_entries=len(dataset.bad_samples),
                      maps_without_depth=len(empty))
        _write_report(report, counts, bad, sorted(empty))
        kinds = collections.Counter(r['error_type'] for r in bad)
        print(f'skipped {bad_images} bad image(s) ({len(dataset.bad_samples)} bad info '
              f'entr{"y" if len(dataset.bad_samples) == 1 else "ies"}, '
              f'{len(bad) - len(dataset.bad_samples)} bad image/LiDAR/depth sample(s); '
              f'{", ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) or "none"}); '
              f'listed in {report}')
    return dict(written=written, skipped=skipped, bad=bad_images, empty=len(empty),
                mean_valid_fraction=mean_valid, report=report)


if __name__ == '__main__':
    try:
        main()
    except (ValueError, OSError) as error:  # a bad input: its message names file and sample
        sys.exit(f'precompute_depth.py: {type(error).__name__}: {error}\n(rerun with '
                 '--skip-bad to leave bad samples out and list them in a report)')
