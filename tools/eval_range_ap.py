r"""nuScenes AP by ego-distance range (S3PT supplementary Tab. 6) from a nuScenes result file.

    python tools/eval_range_ap.py work_dirs/petr/results/pred_instances_3d/results_nusc.json \
        --data-root data/nuscenes --version v1.0-trainval [--ranges 20 30 60] [--out table.json]

The result file is what mmdet3d's ``NuScenesMetric`` / s3pt_mm's ``NuScenesRangeMetric`` write
(``--cfg-options test_evaluator.jsonfile_prefix=DIR`` keeps it). The evaluated samples are the
ones in the file; ground truth comes from the nuScenes tables under ``--data-root``. Matching is
nuScenes' (centre distance 0.5 / 1 / 2 / 4 m, AP with min recall / precision 0.1); for range R
every class is evaluated on boxes closer than R to the ego vehicle. Construction vehicle is left
out as in the paper. Note: plain ``NuScenesMetric`` drops predictions beyond the nuScenes class
ranges (30-50 m) while writing the file; ``NuScenesRangeMetric`` keeps them up to max(ranges).
The standard nuScenes mAP / NDS of the same samples are printed as well. See
docs/detection3d.md.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from s3pt_mm.det3d.evaluation.range_ap import (TAB6_CLASSES, TAB6_RANGES,  # noqa: E402
                                               detection_metrics, format_range_ap_table,
                                               load_eval_boxes, range_ap_table)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('result', help='nuScenes detection result JSON (results_nusc.json)')
    parser.add_argument('--data-root', required=True,
                        help='nuScenes dataroot holding the <version>/*.json tables')
    parser.add_argument('--version', default='v1.0-trainval',
                        help='nuScenes version folder (v1.0-trainval, v1.0-mini, '
                        'v1.0-synthetic, ...)')
    parser.add_argument('--ranges', type=float, nargs='+', default=list(TAB6_RANGES),
                        help='upper ends R of the 0-R m ranges (Tab. 6: 20 30 60)')
    parser.add_argument('--eval-version', default='detection_cvpr_2019',
                        help='nuScenes detection config for the standard mAP / NDS')
    parser.add_argument('--out', default=None,
                        help='also write the table (and mAP / NDS) to this JSON file')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from nuscenes import NuScenes
    from nuscenes.eval.common.config import config_factory
    nusc = NuScenes(version=args.version, dataroot=args.data_root, verbose=False)
    config = config_factory(args.eval_version)
    gt, pred = load_eval_boxes(nusc, args.result, config.max_boxes_per_sample)
    table = range_ap_table(gt, pred, TAB6_CLASSES, args.ranges, nusc=nusc)
    metrics = detection_metrics(gt, pred, config, nusc)
    print(f'{len(gt.sample_tokens)} samples, nuScenes mAP {metrics.mean_ap:.4f}, '
          f'NDS {metrics.nd_score:.4f}')
    print(format_range_ap_table(table, TAB6_CLASSES))
    out = {'num_samples': len(gt.sample_tokens), 'mAP': metrics.mean_ap,
           'NDS': metrics.nd_score,
           'range_ap': {f'0-{r:g}m': row for r, row in table.items()}}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == '__main__':
    main()
