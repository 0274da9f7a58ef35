"""Depth-guided spatial clustering of an image's patch tokens (CrIBo's clustering + S3PT's depth
term, spec §5): pure tensor functions, vectorised over the batch, O(B·n²) memory; on a GPU the
same algorithm runs as a fused kernel (:mod:`s3pt_mm.ops.spatial_clustering_cuda`)."""
from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .sinkhorn import sinkhorn_knopp

__all__ = [
    'SpatialClusters', 'CLUSTERING_BACKENDS', 'resolve_clustering_backend',
    'single_linkage_distance', 'positional_cost', 'cluster_mean_depth', 'depth_cost',
    'depth_guided_spatial_clustering'
]

#: Implementations of :func:`depth_guided_spatial_clustering` (its ``backend`` argument).
CLUSTERING_BACKENDS = ('auto', 'torch', 'cuda')


class SpatialClusters(NamedTuple):
    """Result of :func:`depth_guided_spatial_clustering`.

    Attributes:
        assignment (Tensor): (B, n) int64, the cluster in [0, k) of every token.
        centroids (Tensor): (B, k, D) float32, L2-normalised centroids after the last update
            (an empty cluster keeps its previous centroid).
        cluster_marginal (Tensor): (B, k) float32, the column marginal ``c`` after the last
            update (uniform ``1/k`` when ``update_c`` is False).
    """
    assignment: Tensor
    centroids: Tensor
    cluster_marginal: Tensor


def _per_image(x: Tensor) -> tuple:
    return tuple(range(1, x.dim()))


def _cuda_kernel_available() -> bool:
    # Imported here: the extension loader is only needed once tokens are on a GPU.
    from s3pt_mm.ops.spatial_clustering_cuda import spatial_clustering_cuda_available
    return spatial_clustering_cuda_available()


def resolve_clustering_backend(backend: str, device: torch.device) -> str:
    """The implementation :func:`depth_guided_spatial_clustering` uses for tokens on ``device``.

    ``'torch'`` is the PyTorch reference in this module; ``'cuda'`` the fused kernel
    (``torch.ops.s3pt_mm.spatial_clustering_forward``), which needs the tokens on a CUDA device
    and the built ``s3pt_mm._ext``; ``'auto'`` picks ``'cuda'`` when both hold, else ``'torch'``
    (CPU tokens never touch the extension).

    Args:
        backend (str): ``'auto'``, ``'torch'`` or ``'cuda'``.
        device (torch.device): where the tokens are.

    Returns:
        str: ``'torch'`` or ``'cuda'``.

    Raises:
        ValueError: for another backend name.
        ExtensionUnavailableError: (a RuntimeError) for ``'cuda'`` when the kernel cannot run,
            saying why.
    """
    if backend not in CLUSTERING_BACKENDS:
        raise ValueError(f'spatial clustering: backend must be one of {CLUSTERING_BACKENDS}, '
                         f'got {backend!r}')
    if backend == 'torch':
        return 'torch'
    on_gpu = torch.device(device).type == 'cuda'
    if backend == 'auto':
        return 'cuda' if on_gpu and _cuda_kernel_available() else 'torch'
    if not on_gpu or not _cuda_kernel_available():
        from s3pt_mm.ops.ext_loader import ExtensionUnavailableError, unavailable_reason
        from s3pt_mm.ops.spatial_clustering_cuda import SPATIAL_CLUSTERING_OP
        reason = (f'the tokens are on {device}' if not on_gpu else
                  unavailable_reason(SPATIAL_CLUSTERING_OP))
        raise ExtensionUnavailableError(
            f"spatial clustering: backend='cuda' needs a CUDA device and the built "
            f"s3pt_mm._ext, but {reason}; or use backend='auto' / 'torch'")
    return 'cuda'


def single_linkage_distance(distances: Tensor, assignment: Tensor, num_clusters: int) -> Tensor:
    """Distance from each token to the nearest *other* member of each cluster.

    ``L[b, i, j] = min_{m ≠ i, a[b, m] = j} distances[b, i, m]`` (single linkage), ``+inf`` when
    cluster j has no member other than i. A segment reduction (``scatter_reduce`` 'amin' over the
    column tokens, indexed by their cluster) — O(B·n²) memory, never a (B, n, n, k) tensor.

    Args:
        distances (Tensor): (B, n, n) pairwise distances (the diagonal is ignored).
        assignment (Tensor): (B, n) int64 cluster of every token, in [0, num_clusters).
        num_clusters (int): k.

    Returns:
        Tensor: (B, n, k) distances, ``+inf`` where cluster j has no other member.
    """
    batch, num_tokens, _ = distances.shape
    not_self = ~torch.eye(num_tokens, dtype=torch.bool, device=distances.device)
    others = distances.masked_fill(~not_self, float('inf'))
    out = distances.new_full((batch, num_tokens, num_clusters), float('inf'))
    # index[b, i, m] = a[b, m]: row i's distance to token m is reduced into m's cluster.
    index = assignment.unsqueeze(1).expand(batch, num_tokens, num_tokens)
    return out.scatter_reduce(2, index, others, reduce='amin', include_self=True)


def positional_cost(linkage: Tensor) -> Tensor:
    """CrIBo's positional cost T_pos from single-linkage distances (spec §5).

    Entries without another cluster member (``+inf``) get the mean of the image's finite entries;
    the result is then divided by the image's maximum, so T_pos ∈ [0, 1] per image.

    Args:
        linkage (Tensor): (B, n, k) output of :func:`single_linkage_distance` (or, before the
            first assignment, the distance to each cluster's seed).

    Returns:
        Tensor: (B, n, k) T_pos. An image without any finite entry (n = 1) gets zeros.
    """
    dims = _per_image(linkage)
    finite = torch.isfinite(linkage)
    finite_values = torch.where(finite, linkage, torch.zeros_like(linkage))
    mean = finite_values.sum(dims, keepdim=True) / finite.sum(dims, keepdim=True).clamp_min(1)
    filled = torch.where(finite, linkage, mean)
    return filled / filled.amax(dims, keepdim=True).clamp_min(torch.finfo(filled.dtype).tiny)


def cluster_mean_depth(depths: Tensor, depth_valid: Tensor, membership: Tensor,
                       num_clusters: int) -> tuple:
    """Mean depth d̄_j of each cluster's members with valid depth.

    Args:
        depths (Tensor): (B, n) depths in metres (ignored where invalid).
        depth_valid (Tensor): (B, n) bool.
        membership (Tensor): (B, n) int64 in [0, num_clusters]; the value ``num_clusters`` marks
            a token that belongs to no cluster (before the first assignment only the seeds are
            members).
        num_clusters (int): k.

    Returns:
        tuple: ``(mean_depth, cluster_valid)``, both (B, k): the mean (0 where undefined) and
        whether the cluster has at least one member with valid depth.
    """
    batch = depths.shape[0]
    weights = depth_valid.to(depths.dtype)
    values = torch.where(depth_valid, depths, torch.zeros_like(depths))
    sums = depths.new_zeros(batch, num_clusters + 1).scatter_add_(1, membership, values)
    counts = depths.new_zeros(batch, num_clusters + 1).scatter_add_(1, membership, weights)
    sums, counts = sums[:, :num_clusters], counts[:, :num_clusters]
    return sums / counts.clamp_min(1), counts > 0


def depth_cost(depths: Tensor, depth_valid: Tensor, mean_depth: Tensor,
               cluster_valid: Tensor) -> Tensor:
    """S3PT's depth cost ``T_depth[i, j] = (d_i − d̄_j)²`` (spec §5, with its Resolution).

    Normalised by the image's maximum over valid entries; an entry whose token or cluster has no
    valid depth gets the image's mean over valid entries (after normalisation), so missing depth
    neither attracts nor repels. An image without any valid entry gets zeros.

    Args:
        depths (Tensor): (B, n) token depths in metres.
        depth_valid (Tensor): (B, n) bool.
        mean_depth (Tensor): (B, k) cluster depths d̄_j.
        cluster_valid (Tensor): (B, k) bool, whether d̄_j is defined.

    Returns:
        Tensor: (B, n, k) T_depth ∈ [0, 1].
    """
    dims = _per_image(depths.unsqueeze(-1))
    valid = depth_valid.unsqueeze(2) & cluster_valid.unsqueeze(1)
    token_depth = torch.where(depth_valid, depths, torch.zeros_like(depths))
    squared = (token_depth.unsqueeze(2) - mean_depth.unsqueeze(1)).square()
    squared = torch.where(valid, squared, torch.zeros_like(squared))
    maximum = squared.amax(dims, keepdim=True).clamp_min(torch.finfo(squared.dtype).tiny)
    mean = squared.sum(dims, keepdim=True) / valid.sum(dims, keepdim=True).clamp_min(1)
    return torch.where(valid, squared, mean) / maximum


def depth_guided_spatial_clustering(tokens: Tensor,
                                    positions: Tensor,
                                    depths: Optional[Tensor] = None,
                                    depth_valid: Optional[Tensor] = None,
                                    *,
                                    num_clusters: int = 128,
                                    n_iter: int = 5,
                                    sinkhorn_iterations: int = 1,
                                    lam: float = 20.0,
                                    alpha_pos: float = 1.0,
                                    alpha_depth: float = 4.0,
                                    update_c: bool = True,
                                    per_image_minmax: bool = True,
                                    generator: Optional[torch.Generator] = None,
                                    seed_indices: Optional[Tensor] = None,
                                    backend: str = 'auto') -> SpatialClusters:
    """Cluster each image's tokens by appearance, image position and depth (spec §5).

    Per image, over the n tokens of both views together (CrIBo, Lebailly et al. ICLR 2024,
    with S3PT's depth term):

    - t = L2-normalised tokens; C = t of k distinct random seed tokens.
    - ``n_iter`` times: S = t·Cᵀ; T_pos from single linkage (:func:`positional_cost`);
      T_depth from the clusters' mean depths (:func:`depth_cost`);
      M = −S + α_pos·T_pos + α_depth·T_depth, min-max normalised to [0, 1];
      plan = Sinkhorn(−λ·M) with row marginal 1/n and column marginal c (uniform at first;
      ``sinkhorn_iterations`` rounds, no communication: each image is its own problem);
      assignment = argmax over clusters; if ``update_c``: c ← (sizes + 0.01)/Σ;
      C ← L2-normalised mean of the members (an empty cluster keeps its centroid).

    Before the first assignment each cluster's only member is its seed: this project defines
    T_pos[i, j] there as the distance from token i to seed j (0 for the seed itself) and d̄_j as
    the seed's depth (invalid if the seed has none). From the second iteration on, "other
    member" excludes token i itself.

    Runs under ``no_grad`` in fp32 with autocast disabled. Memory is O(B·n·max(n, k, D)): the
    (B, n, n) distance matrix is built once and T_pos is a segment reduction over it.
    No Python loop over images or clusters.

    Two implementations (``backend``): this module's tensor code (``'torch'``, the reference)
    and a fused CUDA kernel (``'cuda'``, :mod:`s3pt_mm.ops.spatial_clustering_cuda`: a few
    launches per iteration, O(B·n·k) memory, deterministic). Both use the same seeds (drawn
    here) and follow the same steps in the same floating-point order; only the summation order
    of reductions differs, so they agree to rounding (an assignment can differ at a near-tie).

    Args:
        tokens (Tensor): (B, n, D) teacher last-layer patch tokens of both views concatenated.
        positions (Tensor): (B, n, 2) token positions (x, y) in original-image pixels.
        depths (Tensor, optional): (B, n) token depths in metres. Needed when α_depth ≠ 0.
        depth_valid (Tensor, optional): (B, n) bool, tokens with a depth. Defaults to all
            valid when ``depths`` is given.
        num_clusters (int): k ≤ n. Defaults to 128 (S3PT; CrIBo 32).
        n_iter (int): clustering iterations. Defaults to 5.
        sinkhorn_iterations (int): Sinkhorn rounds per iteration. Defaults to 1 (S3PT; CrIBo 5).
        lam (float): λ of ``Q = exp(−λ·M)``. Defaults to 20.
        alpha_pos (float): weight of T_pos (this epoch's value). Defaults to 1.
        alpha_depth (float): weight of T_depth (this epoch's value); 0 gives CrIBo. Defaults
            to 4.
        update_c (bool): update the column marginal from cluster sizes. Defaults to True.
        per_image_minmax (bool): min-max normalise M per image (this project's Resolution);
            False normalises over the whole batch as CrIBo's code does. Defaults to True.
        generator (torch.Generator, optional): RNG for the seeds, drawn on each call; the
            global RNG of the tokens' device when None.
        seed_indices (Tensor, optional): (B, k) int64 distinct token indices to use as seeds
            instead of drawing them (tests, reproducing a run). The CUDA backend checks them.
        backend (str): ``'auto'`` (the CUDA kernel for tokens on a GPU when ``s3pt_mm._ext`` is
            built, else the PyTorch code), ``'torch'`` or ``'cuda'``; see
            :func:`resolve_clustering_backend`. Defaults to ``'auto'``.

    Returns:
        SpatialClusters: ``assignment`` (B, n) int64, ``centroids`` (B, k, D) and
        ``cluster_marginal`` (B, k).

    Raises:
        ValueError: on inconsistent shapes, k outside [1, n], non-positive iteration counts,
            α_depth ≠ 0 without depths, an unknown backend, or (CUDA backend) seeds that are
            repeated or out of range.
        ExtensionUnavailableError: (a RuntimeError) for ``backend='cuda'`` when the kernel
            cannot run (CPU tokens, no GPU, or ``s3pt_mm._ext`` not built).
    """
    if tokens.dim() != 3:
        raise ValueError(f'spatial clustering: tokens must be (B, n, D), got {tuple(tokens.shape)}')
    batch, num_tokens, _ = tokens.shape
    if positions.shape != (batch, num_tokens, 2):
        raise ValueError(f'spatial clustering: positions must be ({batch}, {num_tokens}, 2) to '
                         f'match tokens {tuple(tokens.shape)}, got {tuple(positions.shape)}')
    if not 1 <= num_clusters <= num_tokens:
        raise ValueError(f'spatial clustering: num_clusters must be in [1, n={num_tokens}], '
                         f'got {num_clusters}')
    if n_iter < 1 or sinkhorn_iterations < 1:
        raise ValueError(f'spatial clustering: n_iter and sinkhorn_iterations must be >= 1, got '
                         f'{n_iter} and {sinkhorn_iterations}')
    use_depth = alpha_depth != 0
    if use_depth:
        if depths is None:
            raise ValueError(f'spatial clustering: alpha_depth={alpha_depth} needs token depths, '
                             'got depths=None (set alpha_depth=0 for CrIBo)')
        if depths.shape != (batch, num_tokens):
            raise ValueError(f'spatial clustering: depths must be ({batch}, {num_tokens}), got '
                             f'{tuple(depths.shape)}')
        if depth_valid is None:
            depth_valid = torch.ones_like(depths, dtype=torch.bool)
        elif depth_valid.shape != (batch, num_tokens) or depth_valid.dtype != torch.bool:
            raise ValueError(f'spatial clustering: depth_valid must be a bool ({batch}, '
                             f'{num_tokens}) tensor, got {tuple(depth_valid.shape)} '
                             f'{depth_valid.dtype}')
    if seed_indices is not None and seed_indices.shape != (batch, num_clusters):
        raise ValueError(f'spatial clustering: seed_indices must be ({batch}, {num_clusters}), '
                         f'got {tuple(seed_indices.shape)}')

    device = tokens.device
    k = num_clusters
    backend = resolve_clustering_backend(backend, device)
    with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
        drawn = seed_indices is None
        if drawn:
            rng_device = generator.device if generator is not None else device
            noise = torch.rand(batch, num_tokens, generator=generator, device=rng_device)
            seed_indices = noise.argsort(dim=1)[:, :k].to(device)
        if backend == 'cuda':
            from s3pt_mm.ops.spatial_clustering_cuda import spatial_clustering_cuda
            return SpatialClusters(*spatial_clustering_cuda(
                tokens, positions, depths, depth_valid, seed_indices, num_clusters=k,
                n_iter=n_iter, sinkhorn_iterations=sinkhorn_iterations, lam=lam,
                alpha_pos=alpha_pos, alpha_depth=alpha_depth, update_c=update_c,
                per_image_minmax=per_image_minmax, check_seeds=not drawn))

        t = F.normalize(tokens.float(), dim=-1)
        xy = positions.float()
        # (B, n, n), built once. The matmul form of cdist loses ~1 px to cancellation at
        # coordinates of ~1e3 px in fp32; the direct form is exact and as fast at n = 392.
        distances = torch.cdist(xy, xy, compute_mode='donot_use_mm_for_euclid_dist')
        if use_depth:
            d = depths.float()
        seeds = seed_indices.to(device=device, dtype=torch.long)
        centroids = t.gather(1, seeds.unsqueeze(-1).expand(batch, k, t.shape[2]))  # (B, k, D)
        marginal = torch.full((batch, k), 1.0 / k, device=device)

        # Iteration 0: the seeds are the only members (value k = "no cluster" for the others).
        linkage = distances.gather(2, seeds.unsqueeze(1).expand(batch, num_tokens, k))
        membership = torch.full((batch, num_tokens), k, dtype=torch.long, device=device)
        membership.scatter_(1, seeds, torch.arange(k, device=device).expand(batch, k))
        minmax_dims = (1, 2) if per_image_minmax else (0, 1, 2)

        for iteration in range(n_iter):
            if iteration:
                linkage = single_linkage_distance(distances, membership, k)
            cost = -torch.einsum('bnd,bkd->bnk', t, centroids)  # −S, n tokens × k clusters
            cost = cost + alpha_pos * positional_cost(linkage)
            if use_depth:
                mean_depth, cluster_valid = cluster_mean_depth(d, depth_valid, membership, k)
                cost = cost + alpha_depth * depth_cost(d, depth_valid, mean_depth, cluster_valid)
            low = cost.amin(minmax_dims, keepdim=True)
            span = (cost.amax(minmax_dims, keepdim=True) - low).clamp_min(1e-12)
            cost = (cost - low) / span

            plan = sinkhorn_knopp(-lam * cost, num_iters=sinkhorn_iterations,
                                  col_marginal=marginal, distributed=False)
            assignment = plan.argmax(dim=2)  # (B, n)

            sizes = t.new_zeros(batch, k).scatter_add_(1, assignment, t.new_ones(batch, num_tokens))
            if update_c:
                marginal = (sizes + 0.01) / (sizes + 0.01).sum(dim=1, keepdim=True)
            sums = t.new_zeros(batch, k, t.shape[2]).scatter_add_(
                1, assignment.unsqueeze(-1).expand_as(t), t)
            centroids = torch.where((sizes > 0).unsqueeze(-1), F.normalize(sums, dim=-1),
                                    centroids)
            membership = assignment
    return SpatialClusters(assignment, centroids, marginal)
