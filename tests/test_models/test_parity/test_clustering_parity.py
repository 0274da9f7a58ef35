"""Our spatial clustering against CrIBo's algorithm re-derived in ``cribo_reference`` (no code
shared): assignments, positional costs and Sinkhorn plans per iteration, centroid and marginal
updates, on identical inputs (tokens, positions, seed tokens) — docs/method.md §5, §10."""
import importlib.util
from pathlib import Path

import pytest
import torch

from s3pt_mm.models.utils import depth_guided_spatial_clustering
from s3pt_mm.models.utils.sinkhorn import sinkhorn_knopp


def _load_reference():
    """The re-derivation next to this file (test folders are not packages, see pytest.ini)."""
    path = Path(__file__).with_name('cribo_reference.py')
    spec = importlib.util.spec_from_file_location('s3pt_mm_tests_cribo_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cribo = _load_reference()

MIN_AGREEMENT = 0.999  # share of tokens with the reference's cluster (the bar)
REL_TOL = 1e-5


def crop_positions(batch: int, side: int, generator: torch.Generator) -> torch.Tensor:
    """Two views' token positions in original-image pixels: a random crop, and either its
    mirror image (every token has a partner at distance 0) or a shifted crop."""
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing='ij')
    images = []
    for b in range(batch):
        scale = float(torch.rand(1, generator=generator)) * 20 + 10
        offset = torch.rand(2, generator=generator) * 300
        view1 = torch.stack([xs * scale + offset[0], ys * scale + offset[1]], -1).reshape(-1, 2)
        view2 = (view1.flip(0) if b % 2 == 0 else
                 torch.stack([xs * 16 + offset[0] + 32, ys * 16 + offset[1]], -1).reshape(-1, 2))
        images.append(torch.cat([view1, view2]))
    return torch.stack(images).float()


def inputs(batch, side, dim, k, seed, layout):
    g = torch.Generator().manual_seed(seed)
    n = 2 * side * side
    # tokens with structure: a few prototypes plus noise, like real features
    prototypes = torch.randn(8, dim, generator=g)
    tokens = prototypes[torch.randint(0, 8, (batch, n), generator=g)] + \
        0.8 * torch.randn(batch, n, dim, generator=g)
    positions = (crop_positions(batch, side, g) if layout == 'crops' else
                 torch.rand(batch, n, 2, generator=g) * 600)
    seeds = torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(batch)])
    return tokens, positions, seeds


def ours(tokens, positions, seeds, k, rounds, trace=None, **kwargs):
    kwargs.setdefault('cribo_conventions', True)
    return depth_guided_spatial_clustering(
        tokens, positions, num_clusters=k, n_iter=5, sinkhorn_iterations=rounds, lam=20.0,
        alpha_pos=1.0, alpha_depth=0.0, seed_indices=seeds, backend='torch', trace=trace,
        **kwargs)


def rel_error(a, b):
    return float(((a - b).abs() / b.abs().clamp_min(1e-30)).max())


# (k, Sinkhorn rounds): CrIBo's settings, and S3PT's with the depth term off.
SETTINGS = {'cribo': (32, 5), 's3pt-no-depth': (128, 1)}


@pytest.mark.parametrize('setting, batch, seed, layout', [
    ('cribo', 2, 0, 'crops'), ('cribo', 3, 1, 'uniform'), ('cribo', 2, 2, 'crops'),
    ('s3pt-no-depth', 2, 0, 'crops'), ('s3pt-no-depth', 3, 3, 'uniform')])
def test_assignments_costs_and_plans_match_cribo(setting, batch, seed, layout):
    k, rounds = SETTINGS[setting]
    tokens, positions, seeds = inputs(batch, 14, 32, k, seed, layout)
    ref_assignment, ref_trace = cribo.cluster(tokens, positions, seeds, k, rounds)
    trace = []
    out = ours(tokens, positions, seeds, k, rounds, trace)

    agreement = float((out.assignment == ref_assignment).float().mean())
    assert agreement >= MIN_AGREEMENT, f'{setting}: {agreement:.4%} of tokens agree'
    for it, (mine, theirs) in enumerate(zip(trace, ref_trace)):
        # Per iteration, on the same members (iterations agree unless a near-tie flipped one).
        if not torch.equal(mine['assignment'], theirs['assignment']):
            break
        torch.testing.assert_close(mine['positional_cost'], theirs['positional_cost'],
                                   rtol=REL_TOL, atol=1e-6, msg=f'T_pos, iteration {it}')
        torch.testing.assert_close(mine['cost'], theirs['cost'], rtol=REL_TOL, atol=1e-6,
                                   msg=f'normalised cost, iteration {it}')
        assert rel_error(mine['plan'], theirs['plan']) < REL_TOL, f'plan, iteration {it}'
        torch.testing.assert_close(mine['cluster_marginal'], theirs['cluster_marginal'],
                                   rtol=REL_TOL, atol=0, msg=f'marginal, iteration {it}')
        torch.testing.assert_close(mine['centroids'], theirs['centroids'], rtol=REL_TOL,
                                   atol=1e-6, msg=f'centroids, iteration {it}')
    else:
        it = len(trace)
    assert it == len(trace), f'{setting}: iteration {it} differs'


def test_empty_cluster_centroid_is_zero_as_cribo():
    """k = n/2 with 5 rounds leaves clusters empty: CrIBo's zero centroid vs ours (kept)."""
    tokens, positions, seeds = inputs(2, 4, 8, 16, 5, 'crops')
    _, ref_trace = cribo.cluster(tokens, positions, seeds, 16, 1)
    trace = []
    ours(tokens, positions, seeds, 16, 1, trace)
    empty = ref_trace[0]['centroids'].norm(dim=-1) == 0
    assert empty.any(), 'the case must have an empty cluster'
    torch.testing.assert_close(trace[0]['centroids'], ref_trace[0]['centroids'], rtol=REL_TOL,
                               atol=1e-6)
    kept = []
    ours(tokens, positions, seeds, 16, 1, kept, cribo_conventions=False)
    assert (kept[0]['centroids'][empty].norm(dim=-1) > 0.99).all()


def test_own_conventions_differ_only_where_documented():
    """With our resolutions the first-iteration T_pos differs from CrIBo's only by the fill
    value (mean of present entries) and the distance-0 partners (0 instead of absent)."""
    tokens, positions, seeds = inputs(2, 14, 32, 32, 7, 'crops')
    _, ref_trace = cribo.cluster(tokens, positions, seeds, 32, 5)
    trace = []
    ours(tokens, positions, seeds, 32, 5, trace, cribo_conventions=False, per_image_minmax=False,
         fill_mean_over_all=True, empty_cluster_zero=True)
    # image 0: view 2 mirrors view 1, so every token has a partner at distance 0
    distances = torch.cdist(positions[0], positions[0],
                            compute_mode='donot_use_mm_for_euclid_dist')
    partner_of_seed = (distances[:, seeds[0]] == 0) & \
        (torch.arange(len(distances))[:, None] != seeds[0][None])
    mine, theirs = trace[0]['positional_cost'][0], ref_trace[0]['positional_cost'][0]
    assert partner_of_seed.any()
    assert (mine[partner_of_seed] == 0).all() and (theirs[partner_of_seed] > 0).all()
    torch.testing.assert_close(mine[~partner_of_seed], theirs[~partner_of_seed], rtol=1e-4,
                               atol=1e-6)


def test_seed_own_positional_cost_is_the_fill_value():
    """First iteration: the seed's own entry has no other member and gets the mean (cause 2)."""
    tokens, positions, seeds = inputs(1, 6, 8, 5, 11, 'uniform')
    trace = []
    ours(tokens, positions, seeds, 5, 1, trace, cribo_conventions=False)
    linkage = torch.cdist(positions[0], positions[0],
                          compute_mode='donot_use_mm_for_euclid_dist')[:, seeds[0]]
    own = torch.zeros_like(linkage, dtype=torch.bool)
    own[seeds[0], torch.arange(5)] = True
    fill = linkage[~own].mean()
    expected = torch.where(own, fill, linkage)
    torch.testing.assert_close(trace[0]['positional_cost'][0], expected / expected.max())


@pytest.mark.parametrize('rounds', [1, 5])
def test_sinkhorn_plan_matches_cribo(rounds):
    g = torch.Generator().manual_seed(rounds)
    cost = torch.rand(3, 50, 9, generator=g)
    col = torch.rand(3, 9, generator=g) + 0.1
    col = col / col.sum(-1, keepdim=True)
    theirs = cribo.sinkhorn(cost, torch.full((3, 50, 1), 1 / 50), col[:, None], 20.0, rounds)
    mine = sinkhorn_knopp(-20.0 * cost, rounds, col_marginal=col, distributed=False)
    assert rel_error(mine, theirs) < REL_TOL
