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
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.converters import convert_to_timm  # noqa: E402
from s3pt_mm.converters.cli import run_converter  # noqa: E402


def _payload(result, args):
    return dict(result.state_dict)


def main(argv=None) -> int:
    return run_converter(__doc__, "timm's VisionTransformer",
                         'output .pth (a bare timm state dict)',
                         convert_to_timm, _payload, argv)


if __name__ == '__main__':
    sys.exit(main())
