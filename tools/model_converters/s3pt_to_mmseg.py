r"""Convert the teacher (default) or student ViT of a pre-training checkpoint for mmseg.

    python tools/model_converters/s3pt_to_mmseg.py work_dirs/s3pt/epoch_500.pth \
        checkpoints/s3pt_vit-s16_mmseg.pth [--source student]

The output (``{'state_dict', 'meta'}``) is what the segmentation configs' backbone
``init_cfg=dict(type='Pretrained', checkpoint=...)`` loads: mmseg ``VisionTransformer`` names,
patch-embedding bias kept, ``pos_embed`` at the pre-training grid (mmseg resizes it). The keys are
checked against a real mmseg ViT, because mmseg itself loads with ``strict=False``; the command
fails when any key is missing or unexpected. See docs/segmentation.md.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.converters import convert_to_mmseg  # noqa: E402
from s3pt_mm.converters.cli import run_converter  # noqa: E402


def _payload(result, args):
    return result.to_checkpoint(dict(source_checkpoint=str(args.src), source=args.source))


def main(argv=None) -> int:
    return run_converter(__doc__, "mmseg's VisionTransformer", 'output .pth for mmseg',
                         convert_to_mmseg, _payload, argv)


if __name__ == '__main__':
    sys.exit(main())
