"""Pre-training models, registered into mmpretrain's registries."""
from .assigners import DepthGuidedSinkhornAssigner
from .heads import S3PTHead
from .selfsup import S3PT

__all__ = ['DepthGuidedSinkhornAssigner', 'S3PTHead', 'S3PT']
