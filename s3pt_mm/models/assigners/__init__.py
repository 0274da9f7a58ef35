"""Token-to-cluster assigners (registered in mmpretrain's TASK_UTILS)."""
from .depth_guided_sinkhorn_assigner import DepthGuidedSinkhornAssigner

__all__ = ['DepthGuidedSinkhornAssigner']
