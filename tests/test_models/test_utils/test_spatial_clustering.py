"""Depth-guided spatial clustering (docs/method.md §5): cost terms against brute force, the whole
algorithm against a naive per-image reference in both conventions, the two-depth-plane toy,
memory and determinism. Parity with CrIBo's own algorithm: tests/test_models/test_parity."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from s3pt_mm.models.utils import SpatialClusters, depth_guided_spatial_clustering
from s3pt_mm.models.utils.spatial_clustering import (cluster_mean_depth, depth_cost,
                                                     positional_cost, single_linkage_distance)
from s3pt_mm.testing.toy_scenes import cluster_purity, two_plane_scene

INF = float('inf')


# ---------------------------------------------------------------- brute-force references
def brute_linkage(dist, assignment, k, zero_distance_absent=False):
    """L[i][j] = min over members m ≠ i of cluster j of dist[i][m] (inf if none); with
    zero_distance_absent, members at distance 0 do not count either. -1: in no cluster."""
    n = len(assignment)
    return [[min([dist[i][m] for m in range(n) if assignment[m] == j and m != i and
                  not (zero_distance_absent and dist[i][m] == 0)], default=INF)
             for j in range(k)] for i in range(n)]


def brute_positional_cost(linkage, fill_mean_over_all=False):
    finite = [v for row in linkage for v in row if v != INF]
    count = len(linkage) * len(linkage[0]) if fill_mean_over_all else len(finite)
    mean = sum(finite) / count
    filled = [[v if v != INF else mean for v in row] for row in linkage]
    top = max(v for row in filled for v in row)
    return [[v / top for v in row] for row in filled]


def brute_depth_cost(depth, valid, members_of, k):
    """members_of[j]: list of token indices that are members of cluster j."""
    n = len(depth)
    mean_depth, cluster_valid = [], []
    for j in range(k):
        ds = [depth[m] for m in members_of[j] if valid[m]]
        cluster_valid.append(bool(ds))
        mean_depth.append(sum(ds) / len(ds) if ds else 0.0)
    entries = {(i, j): (depth[i] - mean_depth[j])**2
               for i in range(n) for j in range(k) if valid[i] and cluster_valid[j]}
    if not entries:
        return [[0.0] * k for _ in range(n)]
    top = max(entries.values())
    mean = sum(entries.values()) / len(entries) / top
    return [[entries[i, j] / top if (i, j) in entries else mean for j in range(k)]
            for i in range(n)]


def naive_clustering(tokens, positions, depths, valid, seeds, k, n_iter, sinkhorn_iterations,
                     lam, alpha_pos, alpha_depth, update_c, cribo_conventions):
    """The algorithm of docs/method.md §5 written image by image in float64, with the
    brute-force costs and a textbook scaling Sinkhorn (rows to 1/n, then columns to c), in
    CrIBo's conventions or ours (§5.5)."""
    per_image_minmax = not cribo_conventions
    batch, n, _ = tokens.shape
    t = F.normalize(tokens.double(), dim=-1)
    dist = torch.cdist(positions.double(), positions.double(),
                       compute_mode='donot_use_mm_for_euclid_dist').tolist()
    centroids = [t[b, seeds[b]] for b in range(batch)]
    marginal = [torch.full((k, ), 1.0 / k, dtype=torch.float64) for _ in range(batch)]
    members = [[[seeds[b][j].item()] for j in range(k)] for b in range(batch)]
    assignment = [None] * batch
    for it in range(n_iter):
        costs = []
        for b in range(batch):
            if it == 0:  # the seeds are the only members
                seed_of = [-1] * n
                for j in range(k):
                    seed_of[seeds[b][j].item()] = j
                linkage = brute_linkage(dist[b], seed_of, k, cribo_conventions)
            else:
                linkage = brute_linkage(dist[b], assignment[b].tolist(), k, cribo_conventions)
            cost = -t[b] @ centroids[b].T + alpha_pos * torch.tensor(
                brute_positional_cost(linkage, cribo_conventions), dtype=torch.float64)
            if alpha_depth:
                cost = cost + alpha_depth * torch.tensor(brute_depth_cost(
                    depths[b].tolist(), valid[b].tolist(), members[b], k), dtype=torch.float64)
            costs.append(cost)
        if not per_image_minmax:
            low = min(c.min() for c in costs)
            high = max(c.max() for c in costs)
        for b in range(batch):
            if per_image_minmax:
                low, high = costs[b].min(), costs[b].max()
            q = torch.exp(-lam * (costs[b] - low) / (high - low))
            for _ in range(sinkhorn_iterations):
                q = q * ((1.0 / n) / q.sum(1, keepdim=True))
                q = q * (marginal[b] / q.sum(0))
            assignment[b] = q.argmax(1)
            sizes = torch.bincount(assignment[b], minlength=k).double()
            if update_c:
                marginal[b] = (sizes + 0.01) / (sizes + 0.01).sum()
            for j in range(k):
                if sizes[j] > 0:
                    centroids[b][j] = F.normalize(t[b][assignment[b] == j].mean(0), dim=0)
                elif cribo_conventions:  # an empty cluster's centroid becomes 0
                    centroids[b][j] = torch.zeros_like(centroids[b][j])
            members[b] = [torch.nonzero(assignment[b] == j).flatten().tolist() for j in range(k)]
    return torch.stack(assignment), torch.stack(centroids), torch.stack(marginal)


def random_inputs(batch, n, dim, seed, invalid_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, n, dim, generator=g)
    positions = torch.rand(batch, n, 2, generator=g) * 600
    depths = torch.rand(batch, n, generator=g) * 60 + 1
    valid = torch.rand(batch, n, generator=g) > invalid_fraction
    return tokens, positions, depths, valid


def random_seeds(batch, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(batch)])


# ---------------------------------------------------------------- cost terms
def test_single_linkage_and_positional_cost_match_brute_force():
    g = torch.Generator().manual_seed(0)
    positions = torch.rand(2, 9, 2, generator=g) * 100
    dist = torch.cdist(positions, positions)
    # cluster 3 is empty in image 0, cluster 2 a singleton (token 8) in image 0
    assignment = torch.tensor([[0, 1, 0, 1, 0, 1, 0, 1, 2], [3, 3, 2, 1, 0, 0, 1, 2, 3]])
    linkage = single_linkage_distance(dist, assignment, 4)
    positional = positional_cost(linkage)
    for b in range(2):
        ref = brute_linkage(dist[b].tolist(), assignment[b].tolist(), 4)
        torch.testing.assert_close(linkage[b], torch.tensor(ref), rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(positional[b], torch.tensor(brute_positional_cost(ref)),
                                   rtol=1e-6, atol=1e-6)
    # the singleton's own column and the empty cluster fall back to the mean: < 1, equal
    assert linkage[0, 8, 2] == INF and torch.isinf(linkage[0, :, 3]).all()
    assert positional[0, 8, 2] == positional[0, 0, 3] < 1
    assert positional[b].max() == 1


def test_depth_cost_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    depths = torch.rand(2, 10, generator=g) * 40 + 2
    depths[0, 3] = float('nan')  # invalid depths may hold anything
    valid = torch.rand(2, 10, generator=g) > 0.3
    valid[0, 3] = False
    valid[1] = True
    # image 0: cluster 2 has only invalid members; image 1: all valid; cluster 3 empty.
    assignment = torch.tensor([[0, 0, 1, 2, 1, 0, 1, 1, 0, 1], [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]])
    valid[0, assignment[0] == 2] = False
    mean_depth, cluster_valid = cluster_mean_depth(depths, valid, assignment, 4)
    cost = depth_cost(depths, valid, mean_depth, cluster_valid)
    for b in range(2):
        members_of = [torch.nonzero(assignment[b] == j).flatten().tolist() for j in range(4)]
        ref = brute_depth_cost(depths[b].tolist(), valid[b].tolist(), members_of, 4)
        torch.testing.assert_close(cost[b], torch.tensor(ref), rtol=1e-5, atol=1e-6)
    assert cluster_valid.tolist() == [[True, True, False, False], [True, True, True, False]]
    assert torch.isfinite(cost).all()


def test_depth_cost_without_any_valid_depth_is_zero():
    depths, valid = torch.rand(1, 6) * 10, torch.zeros(1, 6, dtype=torch.bool)
    mean_depth, cluster_valid = cluster_mean_depth(depths, valid, torch.tensor([[0, 1] * 3]), 2)
    assert torch.equal(depth_cost(depths, valid, mean_depth, cluster_valid), torch.zeros(1, 6, 2))


# ---------------------------------------------------------------- the whole algorithm
@pytest.mark.parametrize('cribo_conventions, update_c, sinkhorn_iterations, alpha_depth', [
    (False, True, 1, 4.0),
    (True, True, 5, 0.0),
    (False, False, 5, 4.0),
    (True, False, 1, 2.0),
])
def test_matches_naive_reference(cribo_conventions, update_c, sinkhorn_iterations, alpha_depth):
    batch, n, dim, k = 3, 24, 8, 5
    tokens, positions, depths, valid = random_inputs(batch, n, dim, seed=2)
    # duplicated positions: the two conventions treat distance-0 members differently
    positions[:, n // 2:] = positions[:, :n // 2].flip(1)
    seeds = random_seeds(batch, n, k, seed=3)
    kwargs = dict(num_clusters=k, n_iter=5, sinkhorn_iterations=sinkhorn_iterations, lam=20.0,
                  alpha_pos=1.0, alpha_depth=alpha_depth, update_c=update_c,
                  cribo_conventions=cribo_conventions)
    out = depth_guided_spatial_clustering(tokens, positions, depths, valid, seed_indices=seeds,
                                          **kwargs)
    ref_assignment, ref_centroids, ref_marginal = naive_clustering(
        tokens, positions, depths, valid, seeds, **{
            key: value for key, value in kwargs.items() if key != 'num_clusters'
        }, k=k)
    assert out.assignment.dtype == torch.int64 and out.assignment.shape == (batch, n)
    assert torch.equal(out.assignment, ref_assignment)
    torch.testing.assert_close(out.centroids.double(), ref_centroids, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.cluster_marginal.double(), ref_marginal, rtol=1e-6, atol=0)


def test_outputs_describe_the_final_assignment():
    tokens, positions, depths, valid = random_inputs(2, 60, 16, seed=4)
    out = depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=12,
                                          generator=torch.Generator().manual_seed(0))
    t = F.normalize(tokens, dim=-1)
    for b in range(2):
        sizes = torch.bincount(out.assignment[b], minlength=12).float()
        torch.testing.assert_close(out.cluster_marginal[b], (sizes + 0.01) / (60 + 12 * 0.01))
        for j in torch.nonzero(sizes).flatten():
            mean = F.normalize(t[b, out.assignment[b] == j].mean(0), dim=0)
            torch.testing.assert_close(out.centroids[b, j], mean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.centroids.norm(dim=-1), torch.ones(2, 12))


# ---------------------------------------------------------------- the two-depth-plane toy
# Purity without the depth term, measured over seeds 0-9: halves 0.84-0.97, interleaved
# 0.54-0.63 (0.5 = chance).
@pytest.mark.parametrize('arrangement, max_purity_without_depth', [('halves', 0.98),
                                                                   ('interleaved', 0.7)])
def test_two_plane_toy_depth_term_splits_the_planes(arrangement, max_purity_without_depth):
    for seed in range(5):
        tokens, positions, depths, near = two_plane_scene(arrangement, seed)
        with_depth = depth_guided_spatial_clustering(
            tokens, positions, depths, num_clusters=8, alpha_depth=4.0,
            generator=torch.Generator().manual_seed(seed)).assignment[0]
        without = depth_guided_spatial_clustering(
            tokens, positions, depths, num_clusters=8, alpha_depth=0.0,
            generator=torch.Generator().manual_seed(seed)).assignment[0]  # same seeds
        assert cluster_purity(with_depth, near) == 1.0, f'seed {seed}: a cluster spans both planes'
        assert cluster_purity(without, near) < max_purity_without_depth, f'seed {seed}'


# ---------------------------------------------------------------- memory, batching, RNG
class MaxNumel(TorchDispatchMode):
    """Records the largest tensor any aten op returns (views included)."""

    def __init__(self):
        super().__init__()
        self.max_numel, self.op = 0, None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor) and tensor.numel() > self.max_numel:
                self.max_numel, self.op = tensor.numel(), func
        return out


def test_never_materialises_b_n_n_k():
    # S3PT size: n = 2·196 tokens, k = 128 clusters, ViT-S D = 384.
    batch, n, k, dim = 4, 392, 128, 384
    tokens, positions, depths, valid = random_inputs(batch, n, dim, seed=5)
    with MaxNumel() as record:
        depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=k,
                                        generator=torch.Generator().manual_seed(0))
    # The largest tensor is the (B, n, n) distance matrix (614,656 elements): k = 128 times
    # below a (B, n, n, k) tensor (78.7 M).
    assert record.max_numel <= max(batch * n * n, batch * n * dim), (record.max_numel, record.op)
    assert record.max_numel * k <= batch * n * n * k


def test_batch_size_one_and_batch_independence():
    tokens, positions, depths, valid = random_inputs(3, 40, 16, seed=6)
    seeds = random_seeds(3, 40, 6, seed=7)
    batched = depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=6,
                                              seed_indices=seeds)
    for b in range(3):
        single = depth_guided_spatial_clustering(tokens[b:b + 1], positions[b:b + 1],
                                                 depths[b:b + 1], valid[b:b + 1],
                                                 num_clusters=6, seed_indices=seeds[b:b + 1])
        assert single.assignment.shape == (1, 40)
        assert torch.equal(single.assignment[0], batched.assignment[b])
        torch.testing.assert_close(single.centroids[0], batched.centroids[b])


def test_determinism_and_fresh_seeds_per_call():
    tokens, positions, depths, valid = random_inputs(2, 50, 16, seed=8)

    def run(generator):
        return depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=10,
                                               generator=generator).assignment

    first = run(torch.Generator().manual_seed(123))
    assert torch.equal(first, run(torch.Generator().manual_seed(123)))
    generator = torch.Generator().manual_seed(123)
    assert torch.equal(run(generator), first)
    assert not torch.equal(run(generator), first)  # the generator advanced: new seeds
    torch.manual_seed(0)
    global_rng = run(None)
    torch.manual_seed(0)
    assert torch.equal(run(None), global_rng)


def test_missing_depth_is_neutral():
    tokens, positions, depths, _ = random_inputs(2, 40, 16, seed=9)
    seeds = random_seeds(2, 40, 6, seed=10)
    no_depth = depth_guided_spatial_clustering(tokens, positions, num_clusters=6,
                                               alpha_depth=0.0, seed_indices=seeds)
    all_invalid = depth_guided_spatial_clustering(
        tokens, positions, torch.full_like(depths, float('nan')),
        torch.zeros_like(depths, dtype=torch.bool), num_clusters=6, alpha_depth=4.0,
        seed_indices=seeds)
    assert torch.equal(no_depth.assignment, all_invalid.assignment)
    assert torch.isfinite(all_invalid.centroids).all()


def test_fp32_and_no_grad_under_bf16_autocast():
    tokens, positions, depths, valid = random_inputs(2, 30, 16, seed=11)
    seeds = random_seeds(2, 30, 5, seed=12)
    reference = depth_guided_spatial_clustering(tokens, positions, depths, valid,
                                                num_clusters=5, seed_indices=seeds)
    leaf = tokens.clone().requires_grad_(True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = depth_guided_spatial_clustering(leaf, positions, depths, valid, num_clusters=5,
                                              seed_indices=seeds)
    assert isinstance(out, SpatialClusters)
    assert out.centroids.dtype == torch.float32 and not out.centroids.requires_grad
    assert torch.equal(out.assignment, reference.assignment)


@pytest.mark.parametrize('change, match', [
    (dict(tokens=torch.zeros(2, 10)), 'tokens must be'),
    (dict(positions=torch.zeros(2, 10, 3)), 'positions must be'),
    (dict(num_clusters=11), 'num_clusters'),
    (dict(num_clusters=0), 'num_clusters'),
    (dict(n_iter=0), 'n_iter'),
    (dict(depths=None), 'needs token depths'),
    (dict(depths=torch.zeros(2, 9)), 'depths must be'),
    (dict(depth_valid=torch.ones(2, 10)), 'depth_valid must be'),
    (dict(seed_indices=torch.zeros(2, 3, dtype=torch.long)), 'seed_indices'),
])
def test_rejects_bad_input(change, match):
    kwargs = dict(tokens=torch.randn(2, 10, 4), positions=torch.rand(2, 10, 2),
                  depths=torch.rand(2, 10), depth_valid=torch.ones(2, 10, dtype=torch.bool),
                  num_clusters=4)
    kwargs.update(change)
    with pytest.raises(ValueError, match=match):
        depth_guided_spatial_clustering(**kwargs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_matches_cpu():
    tokens, positions, depths, valid = random_inputs(4, 392, 384, seed=13)
    # a CPU generator with CUDA inputs: seeds are drawn on the CPU, then moved
    cpu = depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=128,
                                          generator=torch.Generator().manual_seed(0))
    cuda = depth_guided_spatial_clustering(tokens.cuda(), positions.cuda(), depths.cuda(),
                                           valid.cuda(), num_clusters=128,
                                           generator=torch.Generator().manual_seed(0))
    assert cuda.assignment.device.type == 'cuda'
    # float reductions differ in order between devices: allow rare near-tie flips
    agreement = (cuda.assignment.cpu() == cpu.assignment).float().mean().item()
    assert agreement > 0.99
    tokens, positions, depths, near = two_plane_scene('interleaved', 0)
    out = depth_guided_spatial_clustering(tokens.cuda(), positions.cuda(), depths.cuda(),
                                          num_clusters=8,
                                          generator=torch.Generator('cuda').manual_seed(0))
    assert cluster_purity(out.assignment[0].cpu(), near) == 1.0
