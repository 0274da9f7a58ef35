"""Pure tensor maths shared by the pre-training models (no mm* imports here)."""
from .sinkhorn import sinkhorn_knopp
from .spatial_clustering import SpatialClusters, depth_guided_spatial_clustering
from .vmf import log_vmf_normalizer

__all__ = [
    'sinkhorn_knopp', 'log_vmf_normalizer', 'depth_guided_spatial_clustering', 'SpatialClusters'
]
