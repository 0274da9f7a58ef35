r"""CM3D pseudo-labels: lift 2D instance masks to 3D boxes with LiDAR, write an mmdet3d info pkl.

    python tools/cm3d/generate_pseudo_labels.py --data-root data/synthetic_nuscenes \
        --ann-file nuscenes_infos_train.pkl --out data/synthetic_nuscenes/cm3d_infos_train.pkl \
        --mask-source generator

The output pkl is the input with every sample's ``instances`` replaced by the pseudo-boxes
(``bbox_3d`` gravity centre x, y, z, l, w, h, yaw in the LiDAR frame, ``bbox_label_3d``,
``bbox_score``, ``num_lidar_pts`` = points in the mask, velocity 0) and no ``cam_instances``,
so mmdet3d's ``NuScenesDataset`` trains on it unchanged. When the input has ground-truth
instances the pseudo-boxes are compared with them (recall / precision at 2 m, median centre
error, 3D IoU; nuScenes mAP / NDS with s3pt_mm's ``NuScenesRangeMetric`` when the nuScenes tables
are under --data-root). The summary (also written as JSON next to the output) counts the masks
that covered no LiDAR point, had a class without size prior, and the vehicles with no lane
nearby (yaw 0): these are results, never errors. Mask sources and flags: docs/cm3d.md.
"""
import argparse
import copy
import json
import math
import pickle
import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.cm3d import COUNT_KEYS, CM3DConfig, CM3DLabeller, build_mask_source  # noqa: E402
from s3pt_mm.cm3d.evaluation import PseudoLabelEvaluator  # noqa: E402
from s3pt_mm.cm3d.lifting import DEFAULT_ATTRIBUTES  # noqa: E402
from s3pt_mm.cm3d.pseudo_labeler import aggregate_lidar, load_lane_poses  # noqa: E402
from s3pt_mm.datasets.nuscenes_infos import (NUSCENES_DATA_PREFIX,  # noqa: E402
                                             load_nuscenes_infos)

#: mmdet3d's attribute order for ``attr_label`` ('None' = no attribute).
_ATTRIBUTES = ('cycle.with_rider', 'cycle.without_rider', 'pedestrian.moving',
               'pedestrian.standing', 'pedestrian.sitting_lying_down', 'vehicle.moving',
               'vehicle.parked', 'vehicle.stopped', 'None')


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data-root', required=True, help='nuScenes-format dataset root')
    p.add_argument('--ann-file', required=True, help='input info pkl (relative to --data-root '
                   'or absolute)')
    p.add_argument('--out', required=True, help='output info pkl with the pseudo-boxes')
    p.add_argument('--mask-source', default='generator',
                   choices=['generator', 'segmentation', 'foundation'],
                   help='generator: the synthetic instance maps; segmentation: a Segmenter '
                   'checkpoint + connected components; foundation: GroundingDINO + SAM')
    p.add_argument('--seg-config', help='segmentation: mmseg config')
    p.add_argument('--seg-checkpoint', help='segmentation: checkpoint')
    p.add_argument('--gdino-config', help='foundation: mmdet GroundingDINO config')
    p.add_argument('--gdino-checkpoint', help='foundation: GroundingDINO weights')
    p.add_argument('--sam-checkpoint', help='foundation: segment_anything weights')
    p.add_argument('--sam-type', default='vit_h', help='foundation: SAM model type')
    p.add_argument('--device', default='cpu', help='device of the mask models')
    p.add_argument('--lanes-dir', default=None,
                   help='folder of <logfile>.json lane files (default: DATA_ROOT/lanes)')
    # The lifting's switches (defaults = the reference implementation).
    p.add_argument('--erosion', type=int, default=3, help='erosion kernel side, 0 = none')
    p.add_argument('--centre', default='medoid', choices=['medoid', 'mean'])
    p.add_argument('--no-push-back', action='store_true', help='keep the medoid as centre')
    p.add_argument('--push-back-axes', default='reference', choices=['reference', 'exact'],
                   help="'reference' uses the box width along the heading like the reference; "
                   "'exact' the length")
    p.add_argument('--pixel-convention', default='reference', choices=['reference', 'centre'])
    p.add_argument('--num-sweeps', type=int, default=3, help='LiDAR sweeps merged')
    p.add_argument('--max-lane-distance', type=float, default=None,
                   help='lanes farther than this give yaw 0 (default: any distance)')
    p.add_argument('--no-nms', action='store_true', help='skip the circle NMS')
    p.add_argument('--max-dist', type=float, default=2.0, help='evaluation matching distance')
    p.add_argument('--no-eval', action='store_true', help='do not compare with ground truth')
    p.add_argument('--no-nuscenes-metric', action='store_true',
                   help='skip nuScenes mAP / NDS (needs the nuScenes tables)')
    p.add_argument('--limit', type=int, default=None, help='only the first N samples')
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> CM3DConfig:
    """The :class:`CM3DConfig` the command line asks for."""
    return CM3DConfig(erosion=args.erosion, centre=args.centre, push_back=not args.no_push_back,
                      push_back_axes=args.push_back_axes,
                      pixel_convention=args.pixel_convention, num_sweeps=args.num_sweeps,
                      max_lane_distance=args.max_lane_distance, nms=not args.no_nms)


def mask_source_from_args(args: argparse.Namespace):
    if args.mask_source == 'generator':
        return build_mask_source(dict(type='generator', data_root=args.data_root))
    if args.mask_source == 'segmentation':
        return build_mask_source(dict(type='segmentation', config=args.seg_config,
                                      checkpoint=args.seg_checkpoint, device=args.device))
    return build_mask_source(dict(type='foundation', gdino_config=args.gdino_config,
                                  gdino_checkpoint=args.gdino_checkpoint,
                                  sam_checkpoint=args.sam_checkpoint, sam_type=args.sam_type,
                                  device=args.device))


def pseudo_instances(boxes, classes) -> list:
    """mmdet3d ``instances`` entries of the pseudo-boxes (classes: metainfo order)."""
    out = []
    for b in boxes:
        label = classes.index(b.label) if b.label in classes else -1
        attr = DEFAULT_ATTRIBUTES.get(b.label, '') or 'None'
        out.append(dict(bbox_3d=[float(v) for v in b.box], bbox_label=label,
                        bbox_label_3d=label, bbox_3d_isvalid=True, bbox_score=b.score,
                        velocity=[0.0, 0.0], num_lidar_pts=b.num_points, num_radar_pts=0,
                        attr_label=_ATTRIBUTES.index(attr) if attr in _ATTRIBUTES else 8))
    return out


def nuscenes_metrics(data_root: Path, ann_file: Path, version: str, classes, results,
                     work_dir: Path) -> dict:
    """nuScenes mAP / NDS of the pseudo-boxes with ``NuScenesRangeMetric``."""
    import torch
    from mmdet3d.structures import LiDARInstance3DBoxes

    from s3pt_mm.det3d.evaluation import NuScenesRangeMetric
    metric = NuScenesRangeMetric(data_root=str(data_root), ann_file=str(ann_file),
                                 metric='bbox', jsonfile_prefix=str(work_dir))
    metric.dataset_meta = dict(classes=list(classes), version=version)
    formatted = []
    for idx, boxes in results:
        keep = [b for b in boxes if b.label in classes]
        arr = np.array([b.box for b in keep], dtype=np.float32).reshape(-1, 7)
        arr = np.concatenate([arr, np.zeros((len(arr), 2), np.float32)], axis=1)  # velocity 0
        formatted.append(dict(
            sample_idx=idx, pred_instances=dict(),
            pred_instances_3d=dict(
                bboxes_3d=LiDARInstance3DBoxes(torch.from_numpy(arr), box_dim=9,
                                               origin=(0.5, 0.5, 0.5)),
                scores_3d=torch.tensor([b.score for b in keep], dtype=torch.float32),
                labels_3d=torch.tensor([classes.index(b.label) for b in keep],
                                       dtype=torch.long))))
    out = metric.compute_metrics(formatted)
    return {k.split('/')[-1]: float(v) for k, v in out.items()
            if k.endswith('/mAP') or k.endswith('/NDS')}


def main(argv=None) -> dict:
    args = parse_args(argv)
    from tqdm import tqdm
    root = Path(args.data_root)
    ann = Path(args.ann_file) if Path(args.ann_file).is_absolute() else root / args.ann_file
    with open(ann, 'rb') as f:
        raw = pickle.load(f)
    samples = load_nuscenes_infos(ann, data_root=root, data_prefix=NUSCENES_DATA_PREFIX)
    classes = list(raw['metainfo']['categories'])
    version = raw['metainfo'].get('version', 'v1.0-trainval')
    if args.limit is not None:
        samples = samples[:args.limit]
    lanes_dir = Path(args.lanes_dir) if args.lanes_dir else root / 'lanes'
    labeller = CM3DLabeller(config_from_args(args))
    source = mask_source_from_args(args)
    has_gt = any(len(s.boxes_3d) for s in samples) and not args.no_eval
    evaluator = PseudoLabelEvaluator(max_dist=args.max_dist)
    counts: Counter = Counter({k: 0 for k in COUNT_KEYS})
    lane_cache: dict = {}
    results = []
    data_list = []
    for s in tqdm(samples, desc='CM3D pseudo-labels', unit='sample'):
        info = raw['data_list'][s.index]
        logfile = Path(s.lidar_path).name.split('__')[0]
        if logfile not in lane_cache:
            lane_cache[logfile] = load_lane_poses(lanes_dir / f'{logfile}.json')
        points = aggregate_lidar(s, info, root, labeller.config.num_sweeps,
                                 labeller.config.min_dist)
        boxes, c = labeller.label(s, points, source.masks(s), lane_cache[logfile])
        counts.update(c)
        results.append((s.index, boxes))
        if has_gt:
            valid = s.labels_3d >= 0
            ego = np.linalg.inv(s.lidar2ego)[:2, 3]  # ego origin in the LiDAR frame
            evaluator.add(np.array([b.box for b in boxes]).reshape(-1, 7),
                          np.array([b.score for b in boxes]), [b.label for b in boxes],
                          s.boxes_3d[valid], [classes[k] for k in s.labels_3d[valid]],
                          s.num_lidar_pts[valid], ego)
        new = copy.deepcopy(info)
        new['instances'] = pseudo_instances(boxes, classes)
        new['cam_instances'] = {}
        data_list.append(new)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, 'wb') as f:
        pickle.dump(dict(metainfo=dict(raw['metainfo'], pseudo_labels='cm3d'),
                         data_list=data_list), f)
    summary: dict = {'samples': len(samples), 'counts': dict(counts),
                     'config': vars(labeller.config) | {'priors': None, 'nms_thresholds': None}}
    if has_gt:
        summary['evaluation'] = evaluator.summary()
        tables = root / version
        if args.no_nuscenes_metric:
            summary['nuscenes'] = 'skipped (--no-nuscenes-metric)'
        elif not (tables / 'sample.json').is_file():
            summary['nuscenes'] = f'skipped: no nuScenes tables at {tables}'
        else:
            summary['nuscenes'] = nuscenes_metrics(
                root, ann, version, classes, results, out_path.parent / (out_path.stem + '_nusc'))
    summary_path = out_path.with_suffix('.summary.json')
    summary_path.write_text(json.dumps(summary, indent=2, default=str))
    print_summary(summary, out_path)
    return summary


def print_summary(summary: dict, out_path: Path) -> None:
    c = summary['counts']
    print(f'wrote {out_path}: {c["boxes"]} pseudo-boxes for {summary["samples"]} samples '
          f'from {c["masks"]} masks')
    print(f'  masks with no LiDAR point (no box):     {c["no_points"]}')
    print(f'  masks of a class without prior (no box): {c["no_prior"]}')
    print(f'  vehicles/barriers with no lane nearby (yaw 0): {c["no_lane"]}')
    print(f'  removed by circle NMS:                   {c["boxes_before_nms"] - c["boxes"]}')
    ev = summary.get('evaluation')
    if ev:
        fmt = (lambda v: 'n/a' if isinstance(v, float) and math.isnan(v) else f'{v:.3f}')
        print(f'  vs ground truth ({ev["num_gt"]} boxes in range): recall@{ev["max_dist"]:g}m '
              f'{fmt(ev["recall"])}, precision {fmt(ev["precision"])}, median centre error '
              f'{fmt(ev["median_centre_error"])} m, mean 3D IoU {fmt(ev["mean_iou_3d"])}')
        nus = summary.get('nuscenes')
        if isinstance(nus, dict):
            print(f'  nuScenes mAP {nus.get("mAP", float("nan")):.4f}, '
                  f'NDS {nus.get("NDS", float("nan")):.4f}')
        elif nus:
            print(f'  nuScenes metric: {nus}')


if __name__ == '__main__':
    main()
