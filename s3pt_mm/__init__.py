"""s3pt_mm: S3PT self-supervised pre-training and downstream evaluation for OpenMMLab.

Importing the package (or ``custom_imports=dict(imports=['s3pt_mm'])`` in a config) registers
every s3pt_mm module into the mmpretrain, mmsegmentation and mmdetection3d registries and
allow-lists the types that mmengine checkpoints contain for torch's safe loader.
"""
from .utils import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

# Registration side effects: every module below registers itself on import.
from . import csc, datasets, det3d, engine, models, segmentation  # noqa: E402,F401
from .ops.spconv_cpu import enable_spconv_cpu_backward  # noqa: E402

# spconv's CPU wheel has no usable backward; route CPU tensors through ours (no-op without it).
enable_spconv_cpu_backward()

__all__ = ['__version__', 'register_checkpoint_safe_globals']
