"""sinkhorn_knopp: marginals, a naive reference loop, batching, stability and a 2-process gloo
run equal to the 1-process run."""
import math
import subprocess
import sys

import pytest
import torch

from s3pt_mm.models.utils import sinkhorn_knopp
from s3pt_mm.testing import free_port


def naive_sinkhorn(scores, num_iters, r, c, check_steps=True, order='row_first'):
    """Element-by-element reference on plain Python floats: Q = exp(scores); per round a row
    step then a column step (CrIBo's order, docs/method.md §5.3) or, with
    ``order='column_first'``, the reverse. Asserts each step's marginal."""
    n, k = len(scores), len(scores[0])
    q = [[math.exp(scores[i][j]) for j in range(k)] for i in range(n)]

    def column_step():
        for j in range(k):
            col = sum(q[i][j] for i in range(n))
            for i in range(n):
                q[i][j] *= c[j] / col
        if check_steps:  # after a column step the columns are exact
            for j in range(k):
                assert abs(sum(q[i][j] for i in range(n)) - c[j]) < 1e-12

    def row_step():
        for i in range(n):
            row = sum(q[i])
            q[i] = [v * r[i] / row for v in q[i]]
        if check_steps:  # after a row step the rows are exact
            for i in range(n):
                assert abs(sum(q[i]) - r[i]) < 1e-12

    steps = (row_step, column_step) if order == 'row_first' else (column_step, row_step)
    for _ in range(num_iters):
        for step in steps:
            step()
    return torch.tensor(q, dtype=torch.float64)


@pytest.mark.parametrize('order', ['row_first', 'column_first'])
@pytest.mark.parametrize('num_iters', [1, 2, 7])
def test_matches_naive_loop_with_nonuniform_marginals(num_iters, order):
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 6, 4, generator=g, dtype=torch.float64) * 3
    c = torch.rand(3, 4, generator=g, dtype=torch.float64) + 0.1
    c = c / c.sum(-1, keepdim=True)
    r = torch.rand(3, 6, generator=g, dtype=torch.float64) + 0.1
    r = r / r.sum(-1, keepdim=True)
    out = sinkhorn_knopp(scores, num_iters, row_marginal=r, col_marginal=c, order=order)
    for b in range(3):
        ref = naive_sinkhorn(scores[b].tolist(), num_iters, r[b].tolist(), c[b].tolist(),
                             order=order)
        torch.testing.assert_close(out[b], ref, rtol=1e-12, atol=1e-15)
    # fp32 input: same result to fp32 accuracy
    out32 = sinkhorn_knopp(scores.float(), num_iters, row_marginal=r.float(),
                           col_marginal=c.float(), order=order)
    assert out32.dtype == torch.float32
    torch.testing.assert_close(out32.double(), out, rtol=1e-5, atol=1e-8)


def test_default_marginals_uniform():
    scores = torch.randn(2, 50, 8, generator=torch.Generator().manual_seed(1))
    out = sinkhorn_knopp(scores, 3)
    # Columns exact after the final column step (rows first, then columns): 1/k.
    torch.testing.assert_close(out.sum(-2), torch.full((2, 8), 1 / 8), rtol=1e-5, atol=0)
    ref = naive_sinkhorn(scores[0].tolist(), 3, [1 / 50] * 50, [1 / 8] * 8)
    torch.testing.assert_close(out[0].double(), ref, rtol=1e-5, atol=1e-9)


def test_rows_converge_to_target_marginal():
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(2, 40, 5, generator=g, dtype=torch.float64)
    c = torch.tensor([0.4, 0.3, 0.15, 0.1, 0.05], dtype=torch.float64)
    one = sinkhorn_knopp(scores, 1, col_marginal=c)
    many = sinkhorn_knopp(scores, 200, col_marginal=c)
    err_one = (one.sum(2) - 1 / 40).abs().max().item()
    err_many = (many.sum(2) - 1 / 40).abs().max().item()
    assert err_one > 1e-4  # one round is far from balanced on random scores ...
    assert err_many < 1e-12  # ... the fixed point is
    torch.testing.assert_close(many.sum(1), c.expand(2, 5))
    torch.testing.assert_close(one.sum(1), c.expand(2, 5))  # columns are exact after each round


def test_unbatched_and_batch_size_one_and_batch_independence():
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 30, 6, generator=g)
    c = torch.softmax(torch.randn(4, 6, generator=g), -1)
    batched = sinkhorn_knopp(scores, 3, col_marginal=c)
    for b in range(4):
        single = sinkhorn_knopp(scores[b:b + 1], 3, col_marginal=c[b:b + 1])
        unbatched = sinkhorn_knopp(scores[b], 3, col_marginal=c[b])
        assert single.shape == (1, 30, 6) and unbatched.shape == (30, 6)
        torch.testing.assert_close(single[0], batched[b], rtol=1e-6, atol=0)
        torch.testing.assert_close(unbatched, batched[b], rtol=1e-6, atol=0)


def test_shift_invariance_and_any_score_range():
    g = torch.Generator().manual_seed(4)
    scores = torch.randn(2, 20, 5, generator=g, dtype=torch.float64)
    # A per-row constant is absorbed by the first row step, a per-column one by the first
    # column step (column-first order).
    shift = torch.randn(2, 20, 1, generator=g, dtype=torch.float64) * 500
    torch.testing.assert_close(sinkhorn_knopp(scores + shift, 3), sinkhorn_knopp(scores, 3))
    shift = torch.randn(2, 1, 5, generator=g, dtype=torch.float64) * 500
    torch.testing.assert_close(sinkhorn_knopp(scores + shift, 3, order='column_first'),
                               sinkhorn_knopp(scores, 3, order='column_first'))
    # Scores spanning ~1000 (exp over/underflows fp32 beyond ~88): columns still sum to c and the
    # plan matches float64 to what fp32 leaves of exponents of magnitude 1e3 (6e-5 per rounding,
    # a few roundings per entry).
    wide = (scores / 0.005 + 1000).float()
    plan = sinkhorn_knopp(wide, 3)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan.sum(-2), torch.full((2, 5), 1 / 5), rtol=1e-4, atol=0)
    torch.testing.assert_close(plan.double(), sinkhorn_knopp(wide.double(), 3), rtol=5e-4,
                               atol=1e-7)


def test_fp32_under_bf16_autocast():
    scores = torch.randn(2, 16, 4, generator=torch.Generator().manual_seed(5))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        inside = sinkhorn_knopp(scores, 3)
        from_bf16 = sinkhorn_knopp(scores.bfloat16(), 3)
    assert inside.dtype == torch.float32 and from_bf16.dtype == torch.float32
    torch.testing.assert_close(inside, sinkhorn_knopp(scores, 3), rtol=0, atol=0)
    torch.testing.assert_close(from_bf16.sum(-2), torch.full((2, 4), 1 / 4), rtol=1e-5, atol=0)


def test_the_two_orders_differ_after_one_round():
    """One round, as in S3PT: the order decides the plan (docs/method.md §5.3)."""
    scores = -20 * torch.rand(4, 100, 16, generator=torch.Generator().manual_seed(5))
    rows = sinkhorn_knopp(scores, 1)
    columns = sinkhorn_knopp(scores, 1, order='column_first')
    assert (rows.argmax(-1) != columns.argmax(-1)).float().mean() > 0.05


@pytest.mark.parametrize('kwargs, match', [
    (dict(scores=torch.zeros(5)), 'scores must be'),
    (dict(scores=torch.zeros(2, 5, 3, dtype=torch.long)), 'scores must be'),
    (dict(scores=torch.zeros(2, 5, 3), num_iters=0), 'num_iters'),
    (dict(scores=torch.zeros(2, 5, 3), col_marginal=torch.ones(4)), 'col_marginal'),
    (dict(scores=torch.zeros(2, 5, 3), col_marginal=torch.ones(3, 3)), 'col_marginal'),
    (dict(scores=torch.zeros(5, 3), row_marginal=torch.ones(1, 5)), 'row_marginal'),
    (dict(scores=torch.zeros(5, 3), order='columns'), 'order'),
])
def test_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sinkhorn_knopp(**kwargs)


# Run as `python -c` in fresh processes (no pickling of this test module, whose import name
# depends on pytest's import mode): rank, world size, port, folder with inputs.pt. The worker
# loads sinkhorn.py by path (it imports only torch): importing the s3pt_mm package would load
# the whole OpenMMLab stack in each worker.
_WORKER = """
import datetime, importlib.util, os, sys
import torch, torch.distributed as dist
rank, world, port, folder, module_path = sys.argv[1:6]
rank, world = int(rank), int(world)
spec = importlib.util.spec_from_file_location('sinkhorn_under_test', module_path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sinkhorn_knopp = module.sinkhorn_knopp
os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=port)
dist.init_process_group('gloo', rank=rank, world_size=world,
                        timeout=datetime.timedelta(seconds=60))
scores, c = torch.load(os.path.join(folder, 'inputs.pt'))
rows = scores.shape[1] // world
local = scores[:, rank * rows:(rank + 1) * rows]
torch.save((sinkhorn_knopp(local, 3, col_marginal=c),
            sinkhorn_knopp(local, 3, col_marginal=c, distributed=False)),
           os.path.join(folder, f'rank{rank}.pt'))
dist.destroy_process_group()
"""


def test_two_process_gloo_equals_one_process(tmp_path, repo_root):
    """Rows split over 2 ranks: the global plan equals the 1-process plan on all rows; with
    distributed=False each rank solves its own rows only."""
    g = torch.Generator().manual_seed(6)
    scores = torch.randn(2, 24, 5, generator=g)
    c = torch.softmax(torch.randn(2, 5, generator=g), -1)
    torch.save((scores, c), tmp_path / 'inputs.pt')
    module_path = repo_root / 's3pt_mm' / 'models' / 'utils' / 'sinkhorn.py'
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, '-c', _WORKER, str(rank), '2', port,
                               str(tmp_path), str(module_path)], stderr=subprocess.PIPE,
                              text=True) for rank in range(2)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
    finally:
        for proc in procs:  # never leave a worker behind (e.g. on a timeout)
            if proc.poll() is None:
                proc.kill()
    results = [torch.load(tmp_path / f'rank{rank}.pt') for rank in range(2)]
    glued = torch.cat([results[0][0], results[1][0]], dim=1)
    torch.testing.assert_close(glued, sinkhorn_knopp(scores, 3, col_marginal=c), rtol=1e-5,
                               atol=1e-9)
    for rank in range(2):
        local = scores[:, rank * 12:(rank + 1) * 12]
        torch.testing.assert_close(results[rank][1], sinkhorn_knopp(local, 3, col_marginal=c))
        assert not torch.allclose(results[rank][1], results[rank][0])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA device')
def test_cuda_matches_cpu():
    scores = torch.randn(4, 392, 128, generator=torch.Generator().manual_seed(7)) * 20
    c = torch.softmax(torch.randn(4, 128, generator=torch.Generator().manual_seed(8)), -1)
    with torch.autocast('cuda', dtype=torch.float16):
        cuda = sinkhorn_knopp(scores.cuda().half(), 3, col_marginal=c.cuda())
    assert cuda.dtype == torch.float32
    torch.testing.assert_close(cuda.cpu(), sinkhorn_knopp(scores.half().float(), 3, col_marginal=c),
                               rtol=1e-4, atol=1e-9)
