"""Hand-made token scenes with a known answer, for the clustering tests (CPU and CUDA)."""
import torch
import torch.nn.functional as F


def two_plane_scene(arrangement: str, seed: int):
    """Two views (8×8 tokens each, 16 px patches; the second a 0.75× zoom shifted by 20 px) of a
    scene whose tokens all look alike (unit vector + 1e-3 noise) and lie on two fronto-parallel
    planes at 5 m and 30 m: left half / right half (``'halves'``), or interleaved columns that
    position alone cannot separate (``'interleaved'``).

    Returns:
        tuple: ``(tokens (1, 128, 32), positions (1, 128, 2), depths (1, 128), near (128,))``,
        ``near`` marking the tokens on the 5 m plane.
    """
    if arrangement not in ('halves', 'interleaved'):
        raise ValueError(f"arrangement must be 'halves' or 'interleaved', got {arrangement!r}")
    ys, xs = torch.meshgrid(torch.arange(8), torch.arange(8), indexing='ij')
    centres = torch.stack([xs, ys], -1).reshape(-1, 2).float() * 16 + 8
    column = xs.reshape(-1)
    near = column < 4 if arrangement == 'halves' else column % 2 == 0
    positions = torch.cat([centres, centres * 0.75 + 20])
    near = torch.cat([near, near])
    depths = torch.where(near, 5.0, 30.0)
    g = torch.Generator().manual_seed(seed)
    tokens = F.normalize(torch.ones(128, 32), dim=-1) + 1e-3 * torch.randn(128, 32, generator=g)
    return tokens[None], positions[None], depths[None], near


def cluster_purity(assignment: torch.Tensor, near: torch.Tensor) -> float:
    """Fraction of tokens in their cluster's majority plane (1 = no cluster mixes planes)."""
    majority = 0
    for j in assignment.unique():
        on_near = near[assignment == j]
        majority += max(on_near.sum().item(), (~on_near).sum().item())
    return majority / assignment.numel()
