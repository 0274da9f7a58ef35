"""Registered wrapper around :func:`depth_guided_spatial_clustering` (docs/method.md §5)."""
from numbers import Real
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import TASK_UTILS
from torch import Tensor

from ..utils.spatial_clustering import (CLUSTERING_BACKENDS, SpatialClusters,
                                        depth_guided_spatial_clustering, resolve_conventions)

AlphaSpec = Union[float, Sequence[float]]


def _as_endpoints(value: AlphaSpec, name: str) -> Tuple[float, float]:
    if isinstance(value, Real) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, Real) and not isinstance(v, bool) for v in value):
        return float(value[0]), float(value[1])
    raise ValueError(f'DepthGuidedSinkhornAssigner: {name} must be a number or a pair '
                     f'(alpha[0], alpha[1]) of numbers, got {value!r}')


@TASK_UTILS.register_module()
class DepthGuidedSinkhornAssigner:
    """Cluster each image's teacher patch tokens (both views) by appearance, position and depth.

    S3PT's spatial clustering: CrIBo's Sinkhorn clustering (Lebailly et al., ICLR 2024) with a
    depth cost added to its positional cost (docs/method.md §5); the maths lives in
    :func:`s3pt_mm.models.utils.depth_guided_spatial_clustering`, this class holds the config
    and the current epoch's weights. CrIBo is the same class with ``alpha_depth=0``,
    ``sinkhorn_iterations=5`` and ``num_clusters=32``.

    The weights follow ``linspace(alpha[1], alpha[0], epochs)[epoch]`` (docs/method.md §5.1):
    ``alpha_pos``
    and ``alpha_depth`` are these endpoints, the weights start at ``alpha[1]`` (the epoch-0
    value) and a schedule hook moves them with :meth:`set_alpha_pos` / :meth:`set_alpha_depth`.

    Args:
        num_clusters (int): k clusters per image. Defaults to 128.
        n_iter (int): clustering iterations. Defaults to 5.
        sinkhorn_iterations (int): Sinkhorn rounds per iteration. Defaults to 1.
        lam (float): λ in ``Q = exp(−λ·M)``. Defaults to 20.
        alpha_pos (float | tuple[float, float]): schedule endpoints (α[0], α[1]) of the
            positional weight; a number means constant. Defaults to (1, 1).
        alpha_depth (float | tuple[float, float]): same for the depth weight; 0 disables the
            depth term (CrIBo). Defaults to (4, 4).
        update_c (bool): update the Sinkhorn column marginal from cluster sizes. Defaults to
            True.
        cribo_conventions (bool): CrIBo's code conventions (docs/method.md §5.5: batch-wide
            min-max of the cost on each GPU, the fill mean over all entries, distance-0
            members absent, zero centroid for an empty cluster) instead of this project's
            resolutions (per-image min-max, mean of the present entries, only the token itself
            excluded, an empty cluster keeps its centroid). The S3PT model sets it from its
            own ``cribo_conventions`` unless given here. Defaults to False.
        per_image_minmax, fill_mean_over_all, zero_distance_absent, empty_cluster_zero
            (bool, optional): override one of those four conventions; None follows
            ``cribo_conventions``. Defaults to None.
        backend (str): implementation of the clustering: ``'auto'`` (the fused CUDA kernel for
            tokens on a GPU when ``s3pt_mm._ext`` is built, else PyTorch), ``'torch'`` (always
            the PyTorch reference) or ``'cuda'`` (the kernel, an error when it cannot run).
            Defaults to ``'auto'``.

    Raises:
        ValueError: for an alpha that is neither a number nor a pair, invalid counts or an
            unknown backend.
    """

    def __init__(self,
                 num_clusters: int = 128,
                 n_iter: int = 5,
                 sinkhorn_iterations: int = 1,
                 lam: float = 20.0,
                 alpha_pos: AlphaSpec = (1.0, 1.0),
                 alpha_depth: AlphaSpec = (4.0, 4.0),
                 update_c: bool = True,
                 cribo_conventions: bool = False,
                 per_image_minmax: Optional[bool] = None,
                 fill_mean_over_all: Optional[bool] = None,
                 zero_distance_absent: Optional[bool] = None,
                 empty_cluster_zero: Optional[bool] = None,
                 backend: str = 'auto') -> None:
        for name, value in (('num_clusters', num_clusters), ('n_iter', n_iter),
                            ('sinkhorn_iterations', sinkhorn_iterations)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f'DepthGuidedSinkhornAssigner: {name} must be an integer >= 1, '
                                 f'got {value!r}')
        if lam <= 0:
            raise ValueError(f'DepthGuidedSinkhornAssigner: lam must be > 0, got {lam!r}')
        if backend not in CLUSTERING_BACKENDS:
            raise ValueError(f'DepthGuidedSinkhornAssigner: backend must be one of '
                             f'{CLUSTERING_BACKENDS}, got {backend!r}')
        self.num_clusters = num_clusters
        self.n_iter = n_iter
        self.sinkhorn_iterations = sinkhorn_iterations
        self.lam = float(lam)
        self.alpha_pos_endpoints = _as_endpoints(alpha_pos, 'alpha_pos')
        self.alpha_depth_endpoints = _as_endpoints(alpha_depth, 'alpha_depth')
        self.update_c = update_c
        self.cribo_conventions = bool(cribo_conventions)
        self._convention_overrides = dict(per_image_minmax=per_image_minmax,
                                          fill_mean_over_all=fill_mean_over_all,
                                          zero_distance_absent=zero_distance_absent,
                                          empty_cluster_zero=empty_cluster_zero)
        self.conventions = resolve_conventions(self.cribo_conventions,
                                               **self._convention_overrides)
        self.backend = backend
        # Epoch-0 values of linspace(alpha[1], alpha[0], epochs).
        self._alpha_pos = self.alpha_pos_endpoints[1]
        self._alpha_depth = self.alpha_depth_endpoints[1]

    @property
    def alpha_pos(self) -> float:
        """Current weight of the positional cost."""
        return self._alpha_pos

    @property
    def alpha_depth(self) -> float:
        """Current weight of the depth cost."""
        return self._alpha_depth

    def set_alpha_pos(self, value: float) -> None:
        """Set this epoch's positional weight (called by the schedule hook)."""
        self._alpha_pos = float(value)

    def set_alpha_depth(self, value: float) -> None:
        """Set this epoch's depth weight (called by the schedule hook)."""
        self._alpha_depth = float(value)

    def assign(self,
               tokens: Tensor,
               positions: Tensor,
               depths: Optional[Tensor] = None,
               depth_valid: Optional[Tensor] = None,
               generator: Optional[torch.Generator] = None,
               seed_indices: Optional[Tensor] = None) -> SpatialClusters:
        """Cluster the tokens of every image; seeds are drawn on each call.

        Args:
            tokens (Tensor): (B, n, D) teacher last-layer patch tokens of both views.
            positions (Tensor): (B, n, 2) token (x, y) in original-image pixels.
            depths (Tensor, optional): (B, n) token depths in metres; needed when the current
                ``alpha_depth`` ≠ 0.
            depth_valid (Tensor, optional): (B, n) bool, tokens with a depth.
            generator (torch.Generator, optional): RNG for the seeds (global RNG when None).
            seed_indices (Tensor, optional): (B, k) seed tokens chosen by the caller instead
                of drawing them (S3PT draws them so that they do not depend on how the batch
                is split over GPUs).

        Returns:
            SpatialClusters: ``assignment`` (B, n) int64, ``centroids`` (B, k, D),
            ``cluster_marginal`` (B, k).
        """
        return depth_guided_spatial_clustering(
            tokens,
            positions,
            depths,
            depth_valid,
            num_clusters=self.num_clusters,
            n_iter=self.n_iter,
            sinkhorn_iterations=self.sinkhorn_iterations,
            lam=self.lam,
            alpha_pos=self._alpha_pos,
            alpha_depth=self._alpha_depth,
            update_c=self.update_c,
            **self.conventions._asdict(),
            generator=generator,
            seed_indices=seed_indices,
            backend=self.backend)

    __call__ = assign

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_clusters={self.num_clusters}, n_iter={self.n_iter}, '
                f'sinkhorn_iterations={self.sinkhorn_iterations}, lam={self.lam}, '
                f'alpha_pos={self._alpha_pos} of {self.alpha_pos_endpoints}, '
                f'alpha_depth={self._alpha_depth} of {self.alpha_depth_endpoints}, '
                f'update_c={self.update_c}, cribo_conventions={self.cribo_conventions}, '
                f'{self.conventions}, '
                f'backend={self.backend!r})')
