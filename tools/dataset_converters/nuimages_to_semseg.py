r"""Convert nuImages (devkit format) to image + label-PNG pairs for semantic segmentation.

    python tools/dataset_converters/nuimages_to_semseg.py --data-root data/nuimages \
        --out-dir data/nuimages_semseg --versions v1.0-train v1.0-val

Writes ``OUT/images/<split>/<stem>.jpg`` (symlinks unless ``--image-mode copy``) and
``OUT/annotations/<split>/<stem>.png`` (uint8; 0 background, 1-10 the paper's object classes,
11 driveable surface, 255 ignored categories). The class mapping is in
``s3pt_mm/segmentation/label_spaces.py`` and docs/segmentation.md.
"""
import argparse
import sys
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.segmentation.label_spaces import NUIMAGES_SEG_CLASSES  # noqa: E402
from s3pt_mm.segmentation.nuimages_semseg import (IMAGE_MODES, class_frequencies,  # noqa: E402
                                                  convert_nuimages_version, ignored_fraction)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', required=True,
                        help='nuImages root holding samples/ and the version folders')
    parser.add_argument('--out-dir', required=True, help='output root (images/, annotations/)')
    parser.add_argument('--versions', nargs='+', default=['v1.0-train', 'v1.0-val'],
                        help='versions to convert; each becomes the split after its last "-"')
    parser.add_argument('--image-mode', choices=IMAGE_MODES, default='symlink',
                        help='how images reach OUT/images: symlink (no extra disk), copy, or '
                        'none (labels only)')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    for version in args.versions:
        with tqdm(desc=f'nuImages {version}', unit='img') as bar:
            summary = convert_nuimages_version(args.data_root, version, args.out_dir,
                                               image_mode=args.image_mode,
                                               progress=bar.update,
                                               on_total=lambda n: setattr(bar, 'total', n))
        freqs = class_frequencies(summary, NUIMAGES_SEG_CLASSES)
        print(f'{version} -> {args.out_dir}/annotations/{summary.split}: '
              f'{summary.num_images} images, {100 * ignored_fraction(summary):.2f} % pixels '
              'ignored')
        print('  class pixel shares: ' + ', '.join(f'{k} {100 * v:.2f} %'
                                                   for k, v in freqs.items()))


if __name__ == '__main__':
    main()
