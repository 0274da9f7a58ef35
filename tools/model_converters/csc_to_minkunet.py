"""Convert a CSC / SLidR pre-training checkpoint into mmdet3d MinkUNet backbone weights.

    python tools/model_converters/csc_to_minkunet.py work_dirs/csc/epoch_50.pth csc_minkunet.pth

The output ``{'state_dict': {'backbone.*': ...}, 'meta': ...}`` is loaded by the fine-tuning /
linear-probe configs in ``configs/csc`` (``--cfg-options`` ``pretrained=csc_minkunet.pth``).
"""
import argparse
import sys

import torch

from s3pt_mm.csc.convert import csc_to_minkunet
from s3pt_mm.converters.pretrain_checkpoint import checkpoint_state_dict, load_pretrain_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='pre-training checkpoint (mmengine Runner .pth)')
    parser.add_argument('dst', help='output .pth for mmdet3d MinkUNet')
    parser.add_argument('--trusted', action='store_true',
                        help='unpickle everything (only for checkpoints you trust)')
    args = parser.parse_args(argv)
    ckpt = load_pretrain_checkpoint(args.src, trusted=args.trusted)
    weights, counts = csc_to_minkunet(checkpoint_state_dict(ckpt, args.src), args.src)
    torch.save({'state_dict': weights, 'meta': {'converted_from': str(args.src)}}, args.dst)
    print(f'{args.dst}: {counts["kept"]} backbone tensors kept, {counts["dropped"]} '
          'pre-training-only tensors dropped')
    return 0


if __name__ == '__main__':
    sys.exit(main())
