"""Keep a fraction of the labelled scans of an mmdet3d info pkl (1 % / 5 % fine-tuning).

    python tools/csc/make_label_subset.py data/nuscenes/nuscenes_infos_train.pkl \
        data/nuscenes/nuscenes_infos_train_1pct.pkl --fraction 0.01 --seed 0
"""
import argparse
import sys

from s3pt_mm.csc.label_subset import write_label_subset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='info pkl with every labelled scan')
    parser.add_argument('dst', help='output info pkl')
    parser.add_argument('--fraction', type=float, required=True, help='e.g. 0.01 for 1 %%')
    parser.add_argument('--seed', type=int, default=0, help='which scans (reproducible)')
    args = parser.parse_args(argv)
    kept, total = write_label_subset(args.src, args.dst, args.fraction, args.seed)
    print(f'{args.dst}: {kept} of {total} scans')
    return 0


if __name__ == '__main__':
    sys.exit(main())
