"""The command line shared by ``tools/model_converters/s3pt_to_*.py``."""
import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, List, Optional

import torch

from .convert_backbone import ConvertedBackbone
from .pretrain_checkpoint import load_pretrain_checkpoint


def run_converter(description: str, target: str, dst_help: str,
                  convert: Callable[..., ConvertedBackbone],
                  payload: Callable[[ConvertedBackbone, argparse.Namespace], Any],
                  argv: Optional[List[str]] = None) -> int:
    """Parse ``src dst [--source] [--trusted]``, convert, report the keys, write ``dst``.

    Args:
        description: the tool's help text.
        target: the target model's name in messages (e.g. ``"mmseg's VisionTransformer"``).
        dst_help: help text of the ``dst`` argument.
        convert: ``convert_to_mmseg`` or ``convert_to_timm``.
        payload: what to save, from the conversion and the parsed arguments.
        argv: arguments (``sys.argv[1:]`` when None).

    Returns:
        int: 0 when written, 1 when the weights do not fit the target (nothing written).
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='pre-training checkpoint (mmengine Runner .pth)')
    parser.add_argument('dst', help=dst_help)
    parser.add_argument('--source', choices=['teacher', 'student'], default='teacher',
                        help='which backbone: the EMA teacher (what DINO/CrIBo/S3PT evaluate) '
                        'or the student')
    parser.add_argument('--trusted', action='store_true',
                        help='unpickle everything (only for plain-mmengine checkpoints you trust)')
    args = parser.parse_args(argv)
    checkpoint = load_pretrain_checkpoint(args.src, trusted=args.trusted)
    result = convert(checkpoint, source=args.source, name=args.src)
    print(f'{args.source} backbone found under {result.prefix!r}: '
          f'{len(result.state_dict)} tensors, {asdict(result.arch)}')
    print(result.report.summary())
    if not result.report.ok:
        print(f'not written: the weights do not fit {target}', file=sys.stderr)
        return 1
    Path(args.dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload(result, args), args.dst)
    print(f'wrote {args.dst}')
    return 0
