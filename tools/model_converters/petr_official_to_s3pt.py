r"""Convert an official PETR checkpoint (mmdetection3d ``projects/PETR``) to this package.

    python tools/model_converters/petr_official_to_s3pt.py petr_official.pth \
        checkpoints/petr_head_s3pt.pth [--config CONFIG]

The head (decoder, branches, position encoders, queries) is converted: parameter names, the
query sine encoding's channel order and the yaw code (``s3pt_mm/det3d/official_petr.py``,
docs/detection3d.md). With ``--config`` the keys are checked against that model (the
official head is 256 wide: use a config with ``embed_dims=256``) and neck weights of the same
name and shape are copied; the report lists missing, unexpected and deliberately dropped keys.
The command fails when a head key is missing or unexpected. The output
(``{'state_dict', 'meta'}``) loads with ``load_from=`` or ``init_cfg=dict(type='Pretrained')``.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from s3pt_mm.det3d.official_petr import official_to_s3pt  # noqa: E402


def _target_state_dict(config: str) -> dict:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import s3pt_mm.det3d  # noqa: F401  (registers PETR)
    from mmdet3d.registry import MODELS
    init_default_scope('mmdet3d')
    return MODELS.build(Config.fromfile(config).model).state_dict()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='official PETR checkpoint (.pth)')
    parser.add_argument('dst', help='output .pth in this package\'s layout')
    parser.add_argument('--config', help='our PETR config to check the keys against')
    args = parser.parse_args(argv)
    ckpt = torch.load(args.src, map_location='cpu', weights_only=False)
    if not isinstance(ckpt, dict):
        raise ValueError(f'{args.src}: expected a state dict or a checkpoint dict, got '
                         f'{type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    if not any(k.startswith('pts_bbox_head.') for k in state):
        raise ValueError(f'{args.src}: no pts_bbox_head.* keys; not a PETR checkpoint')
    target = _target_state_dict(args.config) if args.config else None
    result = official_to_s3pt(state, target)
    missing, unexpected = result.head_report()
    print(f'converted {len(result.state_dict)} tensors; head: {len(missing)} missing, '
          f'{len(unexpected)} unexpected')
    for key in missing:
        print(f'  missing:    {key}')
    for key in result.unexpected:
        print(f'  unexpected: {key}')
    backbone = sum(1 for k in result.dropped if k.startswith('img_backbone.'))
    for key, why in result.dropped.items():
        if not key.startswith('img_backbone.'):
            print(f'  dropped:    {key} ({why})')
    if backbone:
        print(f'  dropped:    {backbone} img_backbone.* tensors (ours is the frozen ViT)')
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(dict(state_dict=result.state_dict,
                    meta=dict(source_checkpoint=str(args.src), converter='petr_official_to_s3pt',
                              dropped=result.dropped)), args.dst)
    print(f'wrote {args.dst}')
    return 1 if missing or unexpected else 0


if __name__ == '__main__':
    sys.exit(main())
