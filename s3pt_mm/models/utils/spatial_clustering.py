"""Depth-guided spatial clustering of an image's patch tokens (CrIBo's clustering + S3PT's depth
term, docs/method.md §5): pure tensor functions, vectorised over the batch, O(B·n²) memory; on a
GPU the same algorithm runs as a fused kernel (:mod:`s3pt_mm.ops.spatial_clustering_cuda`)."""
from typing import List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .sinkhorn import sinkhorn_knopp

__all__ = [
    'SpatialClusters', 'ClusteringConventions', 'CLUSTERING_BACKENDS',
    'resolve_clustering_backend', 'resolve_conventions',
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
            (an empty cluster: a zero vector with CrIBo's conventions, else its previous
            centroid).
        cluster_marginal (Tensor): (B, k) float32, the column marginal ``c`` after the last
            update (uniform ``1/k`` when ``update_c`` is False).
    """
    assignment: Tensor
    centroids: Tensor
    cluster_marginal: Tensor


class ClusteringConventions(NamedTuple):
    """The four places where CrIBo's code and this project's own resolution differ
    (docs/method.md §5.5). ``resolve_conventions(True)`` gives CrIBo's, ``(False)`` ours.

    Attributes:
        per_image_minmax (bool): min-max normalise the cost per image (ours); False: over the
            whole batch of the process (CrIBo: ``(M - M.min()) / (M.max() - M.min())`` on the
            GPU's batch, so the result depends on how the batch is split over GPUs).
        fill_mean_over_all (bool): a missing T_pos entry (no other member) gets the image's
            mean over *all* n·k entries with the missing ones counted as 0 (CrIBo); False: the
            mean of the present entries (ours).
        zero_distance_absent (bool): a member at distance 0 from the token (the same
            original-image position, e.g. in the other view) counts as absent (CrIBo); False:
            only the token itself is excluded, a distance-0 member gives T_pos = 0 (ours).
        empty_cluster_zero (bool): an empty cluster's centroid becomes the zero vector, so its
            similarity to every token is 0 (CrIBo: ``F.normalize`` of a zero sum); False: it
            keeps its previous centroid (ours).
    """
    per_image_minmax: bool
    fill_mean_over_all: bool
    zero_distance_absent: bool
    empty_cluster_zero: bool


def resolve_conventions(cribo_conventions: bool = False,
                        per_image_minmax: Optional[bool] = None,
                        fill_mean_over_all: Optional[bool] = None,
                        zero_distance_absent: Optional[bool] = None,
                        empty_cluster_zero: Optional[bool] = None) -> ClusteringConventions:
    """CrIBo's conventions (``cribo_conventions=True``) or ours, each overridable on its own.

    Args:
        cribo_conventions (bool): start from CrIBo's code conventions (True) or this project's
            resolutions (False). Defaults to False.
        per_image_minmax, fill_mean_over_all, zero_distance_absent, empty_cluster_zero
            (bool, optional): override one convention; None follows ``cribo_conventions``
            (see :class:`ClusteringConventions`).

    Returns:
        ClusteringConventions: the resolved flags.
    """
    base = (ClusteringConventions(False, True, True, True) if cribo_conventions else
            ClusteringConventions(True, False, False, False))
    given = dict(per_image_minmax=per_image_minmax, fill_mean_over_all=fill_mean_over_all,
                 zero_distance_absent=zero_distance_absent,
                 empty_cluster_zero=empty_cluster_zero)
    return base._replace(**{k: bool(v) for k, v in given.items() if v is not None})


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


def single_linkage_distance(distances: Tensor, membership: Tensor, num_clusters: int,
                            zero_distance_absent: bool = False) -> Tensor:
    """Distance from each token to the nearest *other* member of each cluster.

    ``L[b, i, j] = min_{m ≠ i, a[b, m] = j} distances[b, i, m]`` (single linkage), ``+inf`` when
    cluster j has no member other than i (docs/method.md §5.2). A segment reduction
    (``scatter_reduce`` 'amin' over the column tokens, indexed by their cluster) — O(B·n²)
    memory, never a (B, n, n, k) tensor.

    Args:
        distances (Tensor): (B, n, n) pairwise distances (the diagonal is ignored).
        membership (Tensor): (B, n) int64 cluster of every token, in [0, num_clusters]; the
            value ``num_clusters`` marks a token in no cluster (before the first assignment,
            only the seeds are members).
        num_clusters (int): k.
        zero_distance_absent (bool): also ignore members at distance 0 from the token (CrIBo's
            convention, docs/method.md §5.5). Defaults to False.

    Returns:
        Tensor: (B, n, k) distances, ``+inf`` where cluster j has no (counted) other member.
    """
    batch, num_tokens, _ = distances.shape
    own = torch.eye(num_tokens, dtype=torch.bool, device=distances.device)
    absent = own | (distances == 0) if zero_distance_absent else own
    others = distances.masked_fill(absent, float('inf'))
    out = distances.new_full((batch, num_tokens, num_clusters + 1), float('inf'))
    # index[b, i, m] = a[b, m]: row i's distance to token m is reduced into m's cluster.
    index = membership.unsqueeze(1).expand(batch, num_tokens, num_tokens)
    out = out.scatter_reduce(2, index, others, reduce='amin', include_self=True)
    return out[..., :num_clusters]


def positional_cost(linkage: Tensor, fill_mean_over_all: bool = False) -> Tensor:
    """CrIBo's positional cost T_pos from single-linkage distances (docs/method.md §5.2).

    Entries without another cluster member (``+inf``) get the image's mean: over the present
    entries (ours), or over all n·k entries with the missing ones counted as 0
    (``fill_mean_over_all``, CrIBo's code). The result is then divided by the image's
    maximum, so T_pos ∈ [0, 1] per image.

    Args:
        linkage (Tensor): (B, n, k) output of :func:`single_linkage_distance`.
        fill_mean_over_all (bool): CrIBo's fill value (see above). Defaults to False.

    Returns:
        Tensor: (B, n, k) T_pos. An image without any finite entry gets zeros.
    """
    dims = _per_image(linkage)
    finite = torch.isfinite(linkage)
    finite_values = torch.where(finite, linkage, torch.zeros_like(linkage))
    if fill_mean_over_all:
        mean = finite_values.mean(dims, keepdim=True)
    else:
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
    """S3PT's depth cost ``T_depth[i, j] = (d_i − d̄_j)²`` (docs/method.md §5.4, with its
    resolution of what the paper leaves open).

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
                                    cribo_conventions: bool = False,
                                    per_image_minmax: Optional[bool] = None,
                                    fill_mean_over_all: Optional[bool] = None,
                                    zero_distance_absent: Optional[bool] = None,
                                    empty_cluster_zero: Optional[bool] = None,
                                    generator: Optional[torch.Generator] = None,
                                    seed_indices: Optional[Tensor] = None,
                                    backend: str = 'auto',
                                    trace: Optional[List[dict]] = None) -> SpatialClusters:
    """Cluster each image's tokens by appearance, image position and depth (docs/method.md §5).

    Per image, over the n tokens of both views together (CrIBo, Lebailly et al. ICLR 2024,
    ``Clustering.compute_assignments`` of its official code, with S3PT's depth term):

    - t = L2-normalised tokens; C = t of k distinct random seed tokens; before the first
      assignment each cluster's only member is its seed.
    - ``n_iter`` times: S = t·Cᵀ; T_pos from single linkage to the *other* members
      (:func:`single_linkage_distance`, :func:`positional_cost`): in the first iteration the
      seed's own entry has no other member and gets the fill value (the mean), as in CrIBo;
      T_depth from the clusters' mean depths (:func:`depth_cost`);
      M = −S + α_pos·T_pos + α_depth·T_depth, min-max normalised to [0, 1];
      plan = Sinkhorn(−λ·M) with row marginal 1/n and column marginal c (uniform at first;
      ``sinkhorn_iterations`` rounds, each scaling rows then columns as CrIBo; no
      communication: each process's images are its own problems);
      assignment = argmax over clusters; if ``update_c``: c ← (sizes + 0.01)/Σ;
      C ← L2-normalised sum of the members.

    CrIBo's code and this project differ in four details (:class:`ClusteringConventions`,
    docs/method.md §5.5): ``cribo_conventions=True`` takes CrIBo's for all four, and each can
    be overridden on its own (``per_image_minmax``, ``fill_mean_over_all``,
    ``zero_distance_absent``, ``empty_cluster_zero``; None follows the switch). With the batch
    min-max (CrIBo's) the clusters of an image depend on the other images of the process's
    batch, hence on how a global batch is split over GPUs (docs/method.md §5.6).

    Runs under ``no_grad`` in fp32 with autocast disabled. Memory is O(B·n·max(n, k, D)): the
    (B, n, n) distance matrix is built once and T_pos is a segment reduction over it.
    No Python loop over images or clusters.

    Two implementations (``backend``): this module's tensor code (``'torch'``, the reference)
    and a fused CUDA kernel (``'cuda'``, :mod:`s3pt_mm.ops.spatial_clustering_cuda`).

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
        cribo_conventions (bool): CrIBo's code conventions (True) or this project's
            resolutions (False) for the four details above. Defaults to False.
        per_image_minmax (bool, optional): override: min-max per image (True) or over the
            batch (False, CrIBo).
        fill_mean_over_all (bool, optional): override: fill missing T_pos entries with the mean
            over all entries, missing ones counted as 0 (True, CrIBo) or over present ones.
        zero_distance_absent (bool, optional): override: members at distance 0 count as absent
            (True, CrIBo).
        empty_cluster_zero (bool, optional): override: an empty cluster's centroid becomes 0
            (True, CrIBo) or keeps its previous value.
        generator (torch.Generator, optional): RNG for the seeds, drawn on each call; the
            global RNG of the tokens' device when None.
        seed_indices (Tensor, optional): (B, k) int64 distinct token indices to use as seeds
            instead of drawing them (tests, reproducing a run). The CUDA backend checks them.
        backend (str): ``'auto'`` (the CUDA kernel for tokens on a GPU when ``s3pt_mm._ext`` is
            built, else the PyTorch code), ``'torch'`` or ``'cuda'``; see
            :func:`resolve_clustering_backend`. Defaults to ``'auto'``.
        trace (list, optional): when a list is given (PyTorch backend), one dict per iteration
            is appended with ``positional_cost`` (B, n, k) T_pos, ``cost`` (B, n, k) the
            normalised M, ``plan`` (B, n, k) the Sinkhorn plan, ``assignment`` (B, n),
            ``centroids`` (B, k, D) and ``cluster_marginal`` (B, k) after the update — for
            parity tests and debugging.

    Returns:
        SpatialClusters: ``assignment`` (B, n) int64, ``centroids`` (B, k, D) and
        ``cluster_marginal`` (B, k).

    Raises:
        ValueError: on inconsistent shapes, k outside [1, n], non-positive iteration counts,
            α_depth ≠ 0 without depths, an unknown backend, ``trace`` with the CUDA backend, or
            (CUDA backend) seeds that are repeated or out of range.
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
    conventions = resolve_conventions(cribo_conventions, per_image_minmax, fill_mean_over_all,
                                      zero_distance_absent, empty_cluster_zero)

    device = tokens.device
    k = num_clusters
    backend = resolve_clustering_backend(backend, device)
    if trace is not None and backend == 'cuda':
        raise ValueError("spatial clustering: trace needs backend='torch' (the kernel keeps no "
                         'intermediate results)')
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
                conventions=conventions, check_seeds=not drawn))

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

        # Before the first assignment the seeds are the only members (k = "no cluster").
        membership = torch.full((batch, num_tokens), k, dtype=torch.long, device=device)
        membership.scatter_(1, seeds, torch.arange(k, device=device).expand(batch, k))
        minmax_dims = (1, 2) if conventions.per_image_minmax else (0, 1, 2)

        for _ in range(n_iter):
            linkage = single_linkage_distance(distances, membership, k,
                                              conventions.zero_distance_absent)
            t_pos = positional_cost(linkage, conventions.fill_mean_over_all)
            cost = -torch.einsum('bnd,bkd->bnk', t, centroids)  # −S, n tokens × k clusters
            cost = cost + alpha_pos * t_pos
            if use_depth:
                mean_depth, cluster_valid = cluster_mean_depth(d, depth_valid, membership, k)
                cost = cost + alpha_depth * depth_cost(d, depth_valid, mean_depth, cluster_valid)
            low = cost.amin(minmax_dims, keepdim=True)
            span = (cost.amax(minmax_dims, keepdim=True) - low).clamp_min(1e-12)
            cost = (cost - low) / span

            plan = sinkhorn_knopp(-lam * cost, num_iters=sinkhorn_iterations,
                                  col_marginal=marginal, distributed=False, order='row_first')
            assignment = plan.argmax(dim=2)  # (B, n)

            sizes = t.new_zeros(batch, k).scatter_add_(1, assignment, t.new_ones(batch, num_tokens))
            if update_c:
                marginal = (sizes + 0.01) / (sizes + 0.01).sum(dim=1, keepdim=True)
            sums = t.new_zeros(batch, k, t.shape[2]).scatter_add_(
                1, assignment.unsqueeze(-1).expand_as(t), t)
            normalised = F.normalize(sums, dim=-1)  # an empty cluster: the zero vector
            centroids = (normalised if conventions.empty_cluster_zero else
                         torch.where((sizes > 0).unsqueeze(-1), normalised, centroids))
            membership = assignment
            if trace is not None:
                trace.append(dict(positional_cost=t_pos, cost=cost, plan=plan,
                                  assignment=assignment, centroids=centroids,
                                  cluster_marginal=marginal))
    return SpatialClusters(assignment, centroids, marginal)
