"""DepthGuidedSinkhornAssigner: built from the registry with S3PT and CrIBo settings, setters
reach the clustering, results equal the pure function's."""
import pytest
import torch

from s3pt_mm.models.assigners import DepthGuidedSinkhornAssigner
from s3pt_mm.models.utils import depth_guided_spatial_clustering


def inputs(seed=0, batch=2, n=64, dim=16):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, n, dim, generator=g), torch.rand(batch, n, 2, generator=g) * 500,
            torch.rand(batch, n, generator=g) * 50 + 1, torch.rand(batch, n, generator=g) > 0.2)


def test_builds_from_registry_with_s3pt_defaults():
    from mmpretrain.registry import TASK_UTILS
    assigner = TASK_UTILS.build(dict(type='DepthGuidedSinkhornAssigner'))
    assert isinstance(assigner, DepthGuidedSinkhornAssigner)
    assert (assigner.num_clusters, assigner.n_iter, assigner.sinkhorn_iterations,
            assigner.lam) == (128, 5, 1, 20.0)
    assert assigner.alpha_pos_endpoints == (1.0, 1.0)
    assert assigner.alpha_depth_endpoints == (4.0, 4.0)
    assert (assigner.alpha_pos, assigner.alpha_depth) == (1.0, 4.0)
    assert assigner.update_c and not assigner.cribo_conventions
    assert assigner.conventions == (True, False, False, False)  # ours (docs/method.md §5.5)


def test_cribo_conventions_switch_and_overrides_reach_the_clustering():
    tokens, positions, _, _ = inputs(batch=1, n=40)
    tokens, positions = tokens.repeat(2, 1, 1), positions.repeat(2, 1, 1)  # two images
    positions[1] *= 3  # the batch-wide min-max now couples the two images
    assigner = DepthGuidedSinkhornAssigner(num_clusters=8, alpha_depth=0.0,
                                           cribo_conventions=True, per_image_minmax=True)
    assert assigner.conventions == (True, True, True, True)
    seeds = torch.stack([torch.randperm(40, generator=torch.Generator().manual_seed(1))[:8]] * 2)
    out = assigner.assign(tokens, positions, seed_indices=seeds)
    ref = depth_guided_spatial_clustering(tokens, positions, num_clusters=8, alpha_depth=0.0,
                                          seed_indices=seeds, cribo_conventions=True,
                                          per_image_minmax=True)
    assert torch.equal(out.assignment, ref.assignment)


def test_cribo_settings_run_without_depth():
    from mmpretrain.registry import TASK_UTILS
    cribo = TASK_UTILS.build(dict(type='DepthGuidedSinkhornAssigner', num_clusters=32,
                                  sinkhorn_iterations=5, alpha_depth=0.0))
    tokens, positions, _, _ = inputs(n=80)
    out = cribo.assign(tokens, positions, generator=torch.Generator().manual_seed(0))
    ref = depth_guided_spatial_clustering(tokens, positions, num_clusters=32,
                                          sinkhorn_iterations=5, alpha_depth=0.0,
                                          generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.assignment, ref.assignment)
    assert out.assignment.max() < 32


def test_starts_at_epoch_zero_value_of_the_schedule():
    # linspace(alpha[1], alpha[0], epochs)[0] = alpha[1]
    assigner = DepthGuidedSinkhornAssigner(alpha_pos=(0.5, 2.0), alpha_depth=(1.0, 3.0))
    assert (assigner.alpha_pos, assigner.alpha_depth) == (2.0, 3.0)


def test_setters_reach_the_clustering():
    tokens, positions, depths, valid = inputs(seed=1)
    assigner = DepthGuidedSinkhornAssigner(num_clusters=8)

    def run(**weights):
        return depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=8,
                                               generator=torch.Generator().manual_seed(3),
                                               **weights).assignment

    assigner.set_alpha_pos(0.25)
    assigner.set_alpha_depth(0.0)
    assert (assigner.alpha_pos, assigner.alpha_depth) == (0.25, 0.0)
    out = assigner(tokens, positions, depths, valid, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out.assignment, run(alpha_pos=0.25, alpha_depth=0.0))
    assigner.set_alpha_depth(4.0)
    out = assigner.assign(tokens, positions, depths, valid,
                          generator=torch.Generator().manual_seed(3))
    assert torch.equal(out.assignment, run(alpha_pos=0.25, alpha_depth=4.0))
    assert not torch.equal(out.assignment, run(alpha_pos=0.25, alpha_depth=0.0))


@pytest.mark.parametrize('kwargs, match', [
    (dict(alpha_pos=(1.0, 2.0, 3.0)), 'alpha_pos'),
    (dict(alpha_depth='4'), 'alpha_depth'),
    (dict(num_clusters=0), 'num_clusters'),
    (dict(sinkhorn_iterations=1.5), 'sinkhorn_iterations'),
    (dict(lam=0.0), 'lam'),
])
def test_rejects_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DepthGuidedSinkhornAssigner(**kwargs)


def test_needs_depths_while_depth_weight_is_on():
    tokens, positions, _, _ = inputs()
    with pytest.raises(ValueError, match='needs token depths'):
        DepthGuidedSinkhornAssigner(num_clusters=8).assign(tokens, positions)
