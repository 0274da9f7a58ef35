r"""Convert the teacher (default) or student ViT of a pre-training checkpoint for timm.

    python tools/model_converters/s3pt_to_timm.py work_dirs/s3pt/epoch_500.pth \
        checkpoints/s3pt_vit-s16_timm.pth [--source student]

The output is a bare state dict in timm's ``VisionTransformer`` naming (``cls_token``,
``pos_embed``, ``patch_embed.proj.*``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
mlp.fc2}.*``, ``norm.*``) for a model without classifier:

    model = timm.create_model('vit_small_patch16_224', num_classes=0)
    model.load_state_dict(torch.load('checkpoints/s3pt_vit-s16_timm.pth'))

Names and shapes are checked against timm's layout; the command fails on any difference.
"""
import argparse
import sys
from dataclasses import asdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.converters import convert_to_timm, load_pretrain_checkpoint  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='pre-training checkpoint (mmengine Runner .pth)')
    parser.add_argument('dst', help='output .pth (a bare timm state dict)')
    parser.add_argument('--source', choices=['teacher', 'student'], default='teacher',
                        help='which backbone: the EMA teacher or the student')
    parser.add_argument('--trusted', action='store_true',
                        help='unpickle everything (only for plain-mmengine checkpoints you trust)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    checkpoint = load_pretrain_checkpoint(args.src, trusted=args.trusted)
    result = convert_to_timm(checkpoint, source=args.source, name=args.src)
    print(f'{args.source} backbone found under {result.prefix!r}: '
          f'{len(result.state_dict)} tensors, {asdict(result.arch)}')
    print(result.report.summary())
    if not result.report.ok:
        print('not written: the weights do not fit timm\'s VisionTransformer', file=sys.stderr)
        return 1
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(result.state_dict), args.dst)
    print(f'wrote {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
