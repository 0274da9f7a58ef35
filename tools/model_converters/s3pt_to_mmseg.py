r"""Convert the teacher (default) or student ViT of a pre-training checkpoint for mmseg.

    python tools/model_converters/s3pt_to_mmseg.py work_dirs/s3pt/epoch_500.pth \
        checkpoints/s3pt_vit-s16_mmseg.pth [--source student]

The output (``{'state_dict', 'meta'}``) is what the segmentation configs' backbone
``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads: mmseg ``VisionTransformer`` names,
patch-embedding bias kept, ``pos_embed`` at the pre-training grid (mmseg resizes it). The keys are
checked against a real mmseg ViT, because mmseg itself loads with ``strict=False``; the command
fails when any key is missing or unexpected. See docs/segmentation.md.
"""
import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.converters import convert_to_mmseg, load_pretrain_checkpoint  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='pre-training checkpoint (mmengine Runner .pth)')
    parser.add_argument('dst', help='output .pth for mmseg')
    parser.add_argument('--source', choices=['teacher', 'student'], default='teacher',
                        help='which backbone: the EMA teacher (what DINO/CrIBo/S3PT evaluate) '
                        'or the student')
    parser.add_argument('--trusted', action='store_true',
                        help='unpickle everything (only for plain-mmengine checkpoints you trust)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    checkpoint = load_pretrain_checkpoint(args.src, trusted=args.trusted)
    result = convert_to_mmseg(checkpoint, source=args.source, name=args.src)
    print(f'{args.source} backbone found under {result.prefix!r}: '
          f'{len(result.state_dict)} tensors, {asdict(result.arch)}')
    print(result.report.summary())
    if not result.report.ok:
        print('not written: the weights do not fit mmseg\'s VisionTransformer', file=sys.stderr)
        return 1
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.to_checkpoint(dict(source_checkpoint=str(args.src),
                                         source=args.source)), args.dst)
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
