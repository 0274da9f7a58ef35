"""s3pt_mm: S3PT self-supervised pre-training and downstream evaluation for OpenMMLab.

``import s3pt_mm`` (or ``custom_imports=dict(imports=['s3pt_mm'])`` in a config) registers the
pre-training modules into mmpretrain's registries (models, assigners, heads, datasets,
transforms, hooks, optimizer constructors) and allow-lists the types that mmengine checkpoints
contain for torch's safe loader. It needs mmengine, mmcv (no compiled ops: ``mmcv-lite`` is
enough) and mmpretrain, never mmseg or mmdet3d.

The downstream tasks register themselves when imported, each into its own library's
registries: ``s3pt_mm.segmentation`` (mmseg), ``s3pt_mm.det3d`` (mmdet3d); their configs list
them in ``custom_imports``. ``s3pt_mm.converters`` (checkpoint conversion) and
``s3pt_mm.testing`` (test helpers) are imported explicitly. The layers are described in
docs/architecture.md.
"""
from .utils import register_checkpoint_safe_globals
from .version import __version__

register_checkpoint_safe_globals()

# Registration side effects: every module below registers itself on import.
from . import datasets, engine, models  # noqa: E402,F401
from .ops.spconv_cpu import enable_spconv_cpu_backward  # noqa: E402

# spconv's CPU wheel has no usable backward; route CPU tensors through ours (no-op without it).
enable_spconv_cpu_backward()

__all__ = ['__version__', 'register_checkpoint_safe_globals']
