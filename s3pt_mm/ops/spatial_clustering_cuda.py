"""The fused CUDA spatial clustering (docs/method.md §5) behind a checked Python call.

The kernel (``s3pt_mm/ops/csrc/cuda/spatial_clustering_cuda.cu``, registered as
``torch.ops.s3pt_mm.spatial_clustering_forward``) runs the whole of
:func:`s3pt_mm.models.utils.depth_guided_spatial_clustering` for a batch of images in a few
launches per iteration; that PyTorch function is its reference and its fallback, and chooses
between the two (``backend='auto' | 'torch' | 'cuda'``).
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .ext_loader import ext_available, get_op

__all__ = [
    'SPATIAL_CLUSTERING_OP', 'spatial_clustering_cuda_available', 'check_seed_indices',
    'spatial_clustering_cuda'
]

#: Name of the operator in ``torch.ops.s3pt_mm``.
SPATIAL_CLUSTERING_OP = 'spatial_clustering_forward'


def spatial_clustering_cuda_available() -> bool:
    """Whether the fused kernel can run: ``s3pt_mm._ext`` is built with it and a GPU is visible.

    :func:`s3pt_mm.ops.ext_loader.unavailable_reason` says why not.
    """
    return ext_available(SPATIAL_CLUSTERING_OP)


def check_seed_indices(seed_indices: Tensor, num_tokens: int) -> None:
    """Check that every row of ``seed_indices`` holds distinct token indices in ``[0, n)``.

    The kernel reads the seeds' tokens without bounds checks, and two clusters seeded by the same
    token would not mean what the reference computes (it keeps one of them), so a bad row is an
    error. Costs a device synchronisation when the seeds are on the GPU (the S3PT model draws
    them on the CPU).

    Args:
        seed_indices (Tensor): (B, k) integer token indices.
        num_tokens (int): n.

    Raises:
        ValueError: naming the first image whose seeds are not integers, out of range or
            repeated.
    """
    dtype = seed_indices.dtype
    if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
        raise ValueError(f'spatial clustering: seed_indices must be integer token indices, got '
                         f'{seed_indices.dtype}')
    if seed_indices.dim() != 2 or seed_indices.shape[1] == 0:
        raise ValueError(f'spatial clustering: seed_indices must be (B, k) with k >= 1, got '
                         f'{tuple(seed_indices.shape)}')
    ordered = seed_indices.sort(dim=1).values
    out_of_range = (ordered[:, 0] < 0) | (ordered[:, -1] >= num_tokens)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(dim=1)
    bad = out_of_range | repeated
    if bool(bad.any()):
        image = int(bad.nonzero()[0, 0])
        problem = (f'indices outside [0, {num_tokens})'
                   if bool(out_of_range[image]) else 'a repeated index')
        raise ValueError(f'spatial clustering: seed_indices of image {image} hold {problem}: '
                         f'{seed_indices[image].tolist()}')


def spatial_clustering_cuda(tokens: Tensor,
                            positions: Tensor,
                            depths: Optional[Tensor],
                            depth_valid: Optional[Tensor],
                            seed_indices: Tensor,
                            *,
                            num_clusters: int,
                            n_iter: int,
                            sinkhorn_iterations: int,
                            lam: float,
                            alpha_pos: float,
                            alpha_depth: float,
                            update_c: bool,
                            conventions,
                            check_seeds: bool = True) -> Tuple[Tensor, Tensor, Tensor]:
    """Depth-guided spatial clustering of a batch of images with the fused CUDA kernel.

    Same maths, arguments and results as
    :func:`s3pt_mm.models.utils.depth_guided_spatial_clustering` (docs/method.md §5), which
    documents them and calls this function for ``backend='cuda'``; the seeds are given, not
    drawn. Runs in fp32
    under ``no_grad`` with autocast disabled. Results are deterministic; they agree with the
    PyTorch path up to the summation order of its reductions (in rare near-ties, an assignment).

    Args:
        tokens (Tensor): (B, n, D) patch tokens on a CUDA device (any float dtype; L2-normalised
            here in fp32, as the reference does).
        positions (Tensor): (B, n, 2) token (x, y) in original-image pixels.
        depths (Tensor, optional): (B, n) depths in metres; needed when ``alpha_depth`` ≠ 0,
            ignored otherwise.
        depth_valid (Tensor, optional): (B, n) bool; all valid when None.
        seed_indices (Tensor): (B, k) distinct token indices per image.
        num_clusters (int): k.
        n_iter (int): clustering iterations.
        sinkhorn_iterations (int): Sinkhorn rounds per iteration.
        lam (float): λ of ``Q = exp(−λ·M)``.
        alpha_pos (float): weight of the positional cost.
        alpha_depth (float): weight of the depth cost (0: no depth term).
        update_c (bool): update the column marginal from the cluster sizes.
        conventions (ClusteringConventions): the four CrIBo-or-ours flags of docs/method.md
            §5.5 (:func:`s3pt_mm.models.utils.spatial_clustering.resolve_conventions`).
        check_seeds (bool): check ``seed_indices`` with :func:`check_seed_indices`. Defaults to
            True; the clustering function skips it for seeds it drew itself.

    Returns:
        tuple: ``(assignment, centroids, cluster_marginal)``: (B, n) int64, (B, k, D) float32,
        (B, k) float32.

    Raises:
        ExtensionUnavailableError: (a RuntimeError) when the kernel cannot run here, saying why
            (``s3pt_mm._ext`` not built, or no GPU visible).
        ValueError: for tokens not on a CUDA device, mismatched shapes or bad seeds.
    """
    op = get_op(SPATIAL_CLUSTERING_OP)
    if tokens.dim() != 3 or tokens.device.type != 'cuda':
        raise ValueError(f'spatial clustering (CUDA): tokens must be a (B, n, D) CUDA tensor, '
                         f'got {tuple(tokens.shape)} on {tokens.device}')
    batch, num_tokens, _ = tokens.shape
    if seed_indices.shape != (batch, num_clusters):
        raise ValueError(f'spatial clustering (CUDA): seed_indices must be ({batch}, '
                         f'{num_clusters}), got {tuple(seed_indices.shape)}')
    use_depth = alpha_depth != 0
    if use_depth and depths is None:
        raise ValueError(f'spatial clustering (CUDA): alpha_depth={alpha_depth} needs depths')
    if check_seeds:
        check_seed_indices(seed_indices, num_tokens)

    device = tokens.device
    with torch.no_grad(), torch.autocast(device_type='cuda', enabled=False):
        t = F.normalize(tokens.float(), dim=-1).contiguous()
        xy = positions.to(device=device, dtype=torch.float32).contiguous()
        d = valid = None
        if use_depth:
            d = depths.to(device=device, dtype=torch.float32).contiguous()
            if depth_valid is not None:
                valid = depth_valid.to(device=device, dtype=torch.bool).contiguous()
        seeds = seed_indices.to(device=device, dtype=torch.long).contiguous()
        assignment, centroids, marginal = op(t, xy, d, valid, seeds, int(num_clusters),
                                             int(n_iter), int(sinkhorn_iterations), float(lam),
                                             float(alpha_pos), float(alpha_depth),
                                             bool(update_c),
                                             bool(conventions.per_image_minmax),
                                             bool(conventions.fill_mean_over_all),
                                             bool(conventions.zero_distance_absent),
                                             bool(conventions.empty_cluster_zero))
    return assignment, centroids, marginal
