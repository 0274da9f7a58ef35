"""The fused spatial-clustering kernel (s3pt_mm/ops/csrc/cuda/spatial_clustering_cuda.cu) against
the PyTorch reference, ``depth_guided_spatial_clustering(..., backend='torch')``
(docs/method.md §5), in both conventions (CrIBo's and ours, §5.5).

Three groups:

- backends (always run): ``'auto'`` on the CPU is the reference, bit for bit; ``'cuda'`` without
  the kernel raises an error that says why; the assigner passes its ``backend`` through; the
  seed checks of the CUDA wrapper.
- the kernel's own code on the CPU (needs a C++ compiler and ninja): the SIMT emulator
  (tests/simt_emulator) compiles the .cu file as C++, one CPU fiber per CUDA thread, and the
  results are compared with the reference: same assignments, centroids and marginals to
  rounding, identical bits whichever order the threads of a block run in.
- the CUDA kernel (needs a CUDA device and the built s3pt_mm._ext): the issue's bar, assignment
  agreement >= 99.9 %, marginals within 1e-5 and centroids within 1e-4, at S3PT's sizes.
"""
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from s3pt_mm.models.assigners import DepthGuidedSinkhornAssigner
from s3pt_mm.models.utils import depth_guided_spatial_clustering
from s3pt_mm.models.utils import spatial_clustering as sc
from s3pt_mm.ops.ext_loader import ExtensionUnavailableError
from s3pt_mm.ops.spatial_clustering_cuda import (check_seed_indices,
                                                 spatial_clustering_cuda_available)
from s3pt_mm.testing.toy_scenes import cluster_purity, two_plane_scene

SIMT_DIR = Path(__file__).resolve().parents[1] / 'simt_emulator'
MIN_AGREEMENT = 0.999  # the bar: fraction of tokens with the reference's cluster
MARGINAL_TOL = 1e-5
CENTROID_TOL = 1e-4


# ---------------------------------------------------------------- inputs
def random_inputs(batch, n, dim, seed, invalid_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(batch, n, dim, generator=g)
    positions = torch.rand(batch, n, 2, generator=g) * 600
    depths = torch.rand(batch, n, generator=g) * 60 + 1
    valid = torch.rand(batch, n, generator=g) >= invalid_fraction
    return tokens, positions, depths, valid


def random_seeds(batch, n, k, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randperm(n, generator=g)[:k] for _ in range(batch)])


# (batch, n, dim, k, sinkhorn_iterations, alpha_depth, update_c, cribo_conventions,
#  invalid_fraction): S3PT's sizes, small odd sizes, CrIBo's settings, every flag both ways.
# Cases whose name has 'mirrored' give the second half of the tokens the positions of the
# first half (distance-0 partners, as two views of the same pixels).
CASES = {
    's3pt-b1': (1, 392, 384, 128, 1, 4.0, True, True, 0.3),
    's3pt-b1-own-conventions': (1, 392, 384, 128, 1, 4.0, True, False, 0.3),
    'odd-depth': (3, 50, 16, 7, 1, 4.0, True, False, 0.3),
    'odd-nodepth-cribo': (3, 50, 16, 7, 1, 0.0, True, True, 0.0),
    'odd-fixed-c-sk5': (2, 37, 12, 5, 5, 4.0, False, False, 0.5),
    'odd-all-valid-cribo-sk3': (2, 61, 24, 9, 3, 2.0, True, True, 0.0),
    'cribo': (2, 80, 32, 32, 5, 0.0, True, True, 0.0),
    'cribo-mirrored': (2, 80, 32, 32, 5, 0.0, True, True, 0.0),
    'own-mirrored': (2, 80, 32, 12, 1, 4.0, True, False, 0.2),
    'one-cluster': (2, 20, 8, 1, 1, 4.0, True, False, 0.3),
    'every-token-a-cluster': (2, 20, 8, 20, 1, 4.0, True, True, 0.3),
    'no-valid-depth': (2, 40, 16, 6, 1, 4.0, True, False, 1.0),
}


def case_kwargs(case):
    batch, n, dim, k, sk, alpha_depth, update_c, cribo, invalid = CASES[case]
    return dict(num_clusters=k, n_iter=5, sinkhorn_iterations=sk, lam=20.0, alpha_pos=1.0,
                alpha_depth=alpha_depth, update_c=update_c, cribo_conventions=cribo)


def case_inputs(case, seed=0):
    batch, n, dim, k, *_, invalid = CASES[case]
    tokens, positions, depths, valid = random_inputs(batch, n, dim, seed, invalid)
    if 'mirrored' in case:
        positions[:, n // 2:] = positions[:, :n // 2].flip(1)
    return tokens, positions, depths, valid, random_seeds(batch, n, k, seed + 1)


def assert_matches_reference(out, ref):
    """The issue's bar; centroids and marginals are compared on images whose assignment agrees
    everywhere (a flipped token moves two clusters' sizes and means)."""
    assignment, centroids, marginal = (x.cpu() for x in out)
    ref_assignment, ref_centroids, ref_marginal = (x.cpu() for x in ref)
    assert assignment.dtype == torch.int64 and assignment.shape == ref_assignment.shape
    assert centroids.dtype == torch.float32 and centroids.shape == ref_centroids.shape
    assert marginal.dtype == torch.float32 and marginal.shape == ref_marginal.shape
    same = assignment == ref_assignment
    agreement = same.float().mean().item()
    assert agreement >= MIN_AGREEMENT, f'assignment agreement {agreement:.5f}'
    whole = same.all(dim=1)
    assert whole.float().mean() >= 0.5, f'only {int(whole.sum())} images agree everywhere'
    torch.testing.assert_close(centroids[whole], ref_centroids[whole], rtol=0, atol=CENTROID_TOL)
    torch.testing.assert_close(marginal[whole], ref_marginal[whole], rtol=0, atol=MARGINAL_TOL)
    # unit centroids; only CrIBo's convention zeroes an empty cluster's centroid
    norms = centroids.norm(dim=-1)
    assert ((norms - 1).abs() < 1e-5).logical_or(norms == 0).all()


# ---------------------------------------------------------------- backends (CPU)
def test_resolve_backend():
    cpu, cuda = torch.device('cpu'), torch.device('cuda')
    assert sc.resolve_clustering_backend('auto', cpu) == 'torch'
    assert sc.resolve_clustering_backend('torch', cpu) == 'torch'
    assert sc.resolve_clustering_backend('torch', cuda) == 'torch'
    with pytest.raises(ValueError, match='backend must be one of'):
        sc.resolve_clustering_backend('triton', cpu)
    with pytest.raises(ExtensionUnavailableError,
                       match="needs a CUDA device and the built s3pt_mm._ext, but the tokens "
                       'are on cpu'):
        sc.resolve_clustering_backend('cuda', cpu)


def test_resolve_backend_on_a_gpu_follows_the_kernel(monkeypatch):
    cuda = torch.device('cuda', 0)
    monkeypatch.setattr(sc, '_cuda_kernel_available', lambda: True)
    assert sc.resolve_clustering_backend('auto', cuda) == 'cuda'
    assert sc.resolve_clustering_backend('cuda', cuda) == 'cuda'
    assert sc.resolve_clustering_backend('auto', torch.device('cpu')) == 'torch'
    monkeypatch.setattr(sc, '_cuda_kernel_available', lambda: False)
    assert sc.resolve_clustering_backend('auto', cuda) == 'torch'
    with pytest.raises(ExtensionUnavailableError, match='needs a CUDA device and the built '
                       's3pt_mm._ext, but .*s3pt_mm._ext'):
        sc.resolve_clustering_backend('cuda', cuda)


def test_auto_on_cpu_is_the_reference_bit_for_bit():
    tokens, positions, depths, valid = random_inputs(2, 60, 16, seed=0)
    for kwargs in (dict(generator=torch.Generator().manual_seed(5)),
                   dict(seed_indices=random_seeds(2, 60, 9, seed=1))):
        auto = depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=9,
                                               **kwargs)
        if 'generator' in kwargs:
            kwargs['generator'] = torch.Generator().manual_seed(5)
        ref = depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=9,
                                              backend='torch', **kwargs)
        for a, b in zip(auto, ref):
            assert torch.equal(a, b)


def test_cuda_backend_without_the_kernel_says_why():
    if spatial_clustering_cuda_available():
        pytest.skip('the kernel is available here')
    tokens, positions, depths, valid = random_inputs(1, 20, 8, seed=0)
    with pytest.raises(ExtensionUnavailableError,
                       match='needs a CUDA device and the built s3pt_mm._ext'):
        depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=4,
                                        backend='cuda')
    with pytest.raises(ValueError, match='backend must be one of'):
        depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=4,
                                        backend='gpu')


def test_assigner_passes_its_backend_through():
    from mmpretrain.registry import TASK_UTILS
    tokens, positions, depths, valid = random_inputs(2, 40, 8, seed=2)
    torch_assigner = TASK_UTILS.build(dict(type='DepthGuidedSinkhornAssigner', num_clusters=6,
                                           backend='torch'))
    auto_assigner = DepthGuidedSinkhornAssigner(num_clusters=6)
    assert auto_assigner.backend == 'auto' and "backend='torch'" in repr(torch_assigner)
    a = torch_assigner.assign(tokens, positions, depths, valid,
                              generator=torch.Generator().manual_seed(0))
    b = auto_assigner.assign(tokens, positions, depths, valid,
                             generator=torch.Generator().manual_seed(0))
    assert torch.equal(a.assignment, b.assignment)
    with pytest.raises(ValueError, match='backend'):
        DepthGuidedSinkhornAssigner(backend='triton')
    if not spatial_clustering_cuda_available():
        with pytest.raises(ExtensionUnavailableError, match='needs a CUDA device'):
            DepthGuidedSinkhornAssigner(num_clusters=6, backend='cuda').assign(
                tokens, positions, depths, valid)


def test_check_seed_indices():
    check_seed_indices(torch.tensor([[0, 4, 2], [3, 1, 0]]), 5)
    with pytest.raises(ValueError, match=r'image 1 hold indices outside \[0, 5\)'):
        check_seed_indices(torch.tensor([[0, 4, 2], [3, 5, 0]]), 5)
    with pytest.raises(ValueError, match=r'image 0 hold indices outside'):
        check_seed_indices(torch.tensor([[-1, 4, 2], [3, 1, 0]]), 5)
    with pytest.raises(ValueError, match='image 1 hold a repeated index'):
        check_seed_indices(torch.tensor([[0, 4, 2], [3, 1, 3]]), 5)
    with pytest.raises(ValueError, match='integer'):
        check_seed_indices(torch.tensor([[0.0, 1.0]]), 5)
    with pytest.raises(ValueError, match=r'\(B, k\)'):
        check_seed_indices(torch.tensor([0, 1]), 5)


# ---------------------------------------------------------------- the kernel's code on the CPU
@pytest.fixture(scope='module')
def simt_op(tmp_path_factory):
    """torch.ops.s3pt_mm_simt.spatial_clustering_forward: the .cu built for the CPU (~15 s)."""
    from torch.utils import cpp_extension
    if shutil.which('c++') is None or not cpp_extension.is_ninja_available():
        pytest.skip('the SIMT emulation build needs a C++ compiler and ninja')
    build_dir = tmp_path_factory.mktemp('spatial_clustering_simt')
    cpp_extension.load(name='s3pt_spatial_clustering_simt',
                       sources=[str(SIMT_DIR / 'spatial_clustering_simt.cpp')],
                       extra_cflags=['-std=c++20', '-O2', '-ffp-contract=off',
                                     '-U_FORTIFY_SOURCE'],
                       build_directory=str(build_dir), is_python_module=False, verbose=False)
    return torch.ops.s3pt_mm_simt.spatial_clustering_forward


def run_op(op, tokens, positions, depths, valid, seeds, num_clusters, n_iter,
           sinkhorn_iterations, lam, alpha_pos, alpha_depth, update_c, cribo_conventions):
    """The operator's call as the CUDA wrapper makes it (L2-normalised fp32 tokens)."""
    use_depth = alpha_depth != 0
    conventions = sc.resolve_conventions(cribo_conventions)
    return op(F.normalize(tokens.float(), dim=-1), positions.float(),
              depths if use_depth else None, valid if use_depth else None, seeds, num_clusters,
              n_iter, sinkhorn_iterations, lam, alpha_pos, alpha_depth, update_c, *conventions)


@pytest.mark.parametrize('case', list(CASES))
def test_simt_kernel_matches_reference(simt_op, case):
    tokens, positions, depths, valid, seeds = case_inputs(case)
    kwargs = case_kwargs(case)
    out = run_op(simt_op, tokens, positions, depths, valid, seeds, **kwargs)
    ref = depth_guided_spatial_clustering(tokens, positions, depths, valid, seed_indices=seeds,
                                          backend='torch', **kwargs)
    assert_matches_reference(out, ref)
    # Same arithmetic in the same order but the summation order of reductions: on these inputs
    # no assignment flips.
    assert torch.equal(out[0], ref.assignment)


def test_simt_kernel_is_race_free_and_deterministic(simt_op, monkeypatch):
    """The threads of a block run in the opposite order: the same bits (no missing barrier,
    no order-dependent reduction)."""
    for case in ('s3pt-b1', 'odd-fixed-c-sk5', 'odd-nodepth-cribo'):
        inputs, kwargs = case_inputs(case, seed=3), case_kwargs(case)
        forward = run_op(simt_op, *inputs, **kwargs)
        monkeypatch.setenv('S3PT_SIMT_ORDER', 'reverse')
        backward = run_op(simt_op, *inputs, **kwargs)
        monkeypatch.delenv('S3PT_SIMT_ORDER')
        for a, b in zip(forward, backward):
            assert torch.equal(a, b), case


@pytest.mark.parametrize('arrangement', ['halves', 'interleaved'])
def test_simt_kernel_two_plane_toy(simt_op, arrangement):
    for seed in range(3):
        tokens, positions, depths, near = two_plane_scene(arrangement, seed)
        seeds = random_seeds(1, 128, 8, seed)
        valid = torch.ones_like(depths, dtype=torch.bool)
        kwargs = dict(num_clusters=8, n_iter=5, sinkhorn_iterations=1, lam=20.0, alpha_pos=1.0,
                      alpha_depth=4.0, update_c=True, cribo_conventions=True)
        out = run_op(simt_op, tokens, positions, depths, valid, seeds, **kwargs)
        ref = depth_guided_spatial_clustering(tokens, positions, depths, valid,
                                              seed_indices=seeds, backend='torch', **kwargs)
        assert cluster_purity(out[0][0], near) == 1.0, f'seed {seed}: a cluster spans both planes'
        assert torch.equal(out[0], ref.assignment), f'seed {seed}'


def test_simt_kernel_rejects_bad_input(simt_op):
    tokens, positions, depths, valid, seeds = case_inputs('odd-depth')  # B=3, n=50, k=7
    t = F.normalize(tokens, dim=-1)
    scalars = (5, 1, 20.0, 1.0, 4.0, True, True, False, False, False)  # n_iter ... conventions
    with pytest.raises(RuntimeError, match='needs depths'):
        simt_op(t, positions, None, None, seeds, 7, *scalars)
    with pytest.raises(RuntimeError, match='num_clusters must be in'):
        simt_op(t, positions, depths, valid, torch.zeros(3, 51, dtype=torch.long), 51, *scalars)
    with pytest.raises(RuntimeError, match='positions must have shape'):
        simt_op(t, positions[:, :, :1].contiguous(), depths, valid, seeds, 7, *scalars)
    with pytest.raises(RuntimeError, match='depth_valid must be Bool'):
        simt_op(t, positions, depths, valid.float(), seeds, 7, *scalars)


# ---------------------------------------------------------------- the CUDA kernel
needs_kernel = pytest.mark.skipif(
    not spatial_clustering_cuda_available(),
    reason='needs a CUDA device and the built s3pt_mm._ext (spatial_clustering_forward)')


def on_gpu(*tensors):
    return [t.cuda() for t in tensors]


@pytest.mark.gpu
@needs_kernel
@pytest.mark.parametrize('batch', [1, 4, 32])
@pytest.mark.parametrize('alpha_depth, invalid_fraction', [(4.0, 0.0), (4.0, 0.3), (0.0, 0.0)])
@pytest.mark.parametrize('cribo_conventions', [True, False])
@pytest.mark.parametrize('update_c', [True, False])
def test_cuda_matches_torch_at_s3pt_size(batch, alpha_depth, invalid_fraction, cribo_conventions,
                                         update_c):
    tokens, positions, depths, valid = on_gpu(
        *random_inputs(batch, 392, 384, seed=batch, invalid_fraction=invalid_fraction))
    seeds = random_seeds(batch, 392, 128, seed=batch + 1).cuda()
    kwargs = dict(num_clusters=128, alpha_depth=alpha_depth,
                  cribo_conventions=cribo_conventions, update_c=update_c, seed_indices=seeds)
    out = depth_guided_spatial_clustering(tokens, positions, depths, valid, backend='cuda',
                                          **kwargs)
    ref = depth_guided_spatial_clustering(tokens, positions, depths, valid, backend='torch',
                                          **kwargs)
    assert out.assignment.device.type == 'cuda'
    assert_matches_reference(out, ref)


@pytest.mark.gpu
@needs_kernel
@pytest.mark.parametrize('case', [c for c in CASES if c != 's3pt-b1'])
def test_cuda_matches_torch_small_and_odd(case):
    tokens, positions, depths, valid, seeds = on_gpu(*case_inputs(case))
    kwargs = case_kwargs(case)
    out = depth_guided_spatial_clustering(tokens, positions, depths, valid, seed_indices=seeds,
                                          backend='cuda', **kwargs)
    ref = depth_guided_spatial_clustering(tokens, positions, depths, valid, seed_indices=seeds,
                                          backend='torch', **kwargs)
    assert_matches_reference(out, ref)


@pytest.mark.gpu
@needs_kernel
def test_cuda_two_plane_toy():
    agree = total = 0
    for arrangement in ('halves', 'interleaved'):
        for seed in range(5):
            tokens, positions, depths, near = two_plane_scene(arrangement, seed)
            tokens, positions, depths = on_gpu(tokens, positions, depths)
            out = depth_guided_spatial_clustering(
                tokens, positions, depths, num_clusters=8, backend='cuda',
                generator=torch.Generator().manual_seed(seed))
            ref = depth_guided_spatial_clustering(
                tokens, positions, depths, num_clusters=8, backend='torch',
                generator=torch.Generator().manual_seed(seed))  # same seeds
            assert cluster_purity(out.assignment[0].cpu(), near) == 1.0, \
                f'{arrangement}, seed {seed}'
            agree += (out.assignment == ref.assignment).sum().item()
            total += out.assignment.numel()
    assert agree / total >= MIN_AGREEMENT


@pytest.mark.gpu
@needs_kernel
def test_cuda_auto_deterministic_fp32_under_autocast():
    tokens, positions, depths, valid = on_gpu(*random_inputs(4, 392, 384, seed=7))
    seeds = random_seeds(4, 392, 128, seed=8)  # on the CPU, as S3PT draws them
    run = lambda **kw: depth_guided_spatial_clustering(  # noqa: E731
        tokens, positions, depths, valid, num_clusters=128, seed_indices=seeds, **kw)
    first = run(backend='cuda')
    for other in (run(backend='cuda'), run(backend='auto')):
        for a, b in zip(first, other):
            assert torch.equal(a, b)
    with torch.autocast('cuda', dtype=torch.bfloat16):
        autocast = run(backend='cuda')  # the kernel's matmul must stay fp32
    for a, b in zip(first, autocast):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match='repeated index'):
        depth_guided_spatial_clustering(tokens, positions, depths, valid, num_clusters=128,
                                        backend='cuda',
                                        seed_indices=torch.zeros(4, 128, dtype=torch.long))
