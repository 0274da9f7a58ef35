"""Center: EMA update formula, state dict, and the 2-process gloo all-reduce path."""
import os

import pytest
import torch
import torch.distributed as dist

from s3pt_mm.models.utils.center import Center, global_batch_sum
from s3pt_mm.testing import init_gloo_rank, run_ranks

P = 6


def test_update_equals_formula():
    center = Center(P, init_value=1.0 / P, momentum=0.9)
    rows = torch.softmax(torch.randn(5, P, generator=torch.Generator().manual_seed(0)), dim=-1)
    center.update(rows)
    expected = 0.9 * torch.full((1, P), 1.0 / P) + 0.1 * rows.mean(dim=0, keepdim=True)
    torch.testing.assert_close(center.value, expected, rtol=0, atol=1e-7)
    # a second step keeps folding in with the same momentum
    rows2 = torch.softmax(torch.randn(3, P), dim=-1)
    center.update(rows2)
    torch.testing.assert_close(center.value, 0.9 * expected + 0.1 * rows2.mean(0, keepdim=True),
                               rtol=0, atol=1e-7)


def test_logit_center_starts_at_zero_and_takes_raw_means():
    center = Center(3, momentum=0.5)
    assert center.value.tolist() == [[0.0, 0.0, 0.0]]
    center.update(torch.tensor([[2.0, -4.0, 6.0], [0.0, 0.0, 2.0]]))
    assert center.value.tolist() == [[0.5, -1.0, 2.0]]


def test_empty_batch_leaves_center_unchanged():
    center = Center(P, init_value=0.25)
    center.update(torch.zeros(0, P))
    assert torch.equal(center.value, torch.full((1, P), 0.25))


def test_state_dict_round_trip():
    center = Center(P, init_value=1.0 / P)
    center.update(torch.rand(4, P))
    restored = Center(P, init_value=1.0 / P)
    restored.load_state_dict(center.state_dict())
    assert list(center.state_dict()) == ['value']
    assert torch.equal(restored.value, center.value)


def test_bad_shapes():
    with pytest.raises(ValueError, match=r'rows must be \(N, 6\)'):
        Center(P).update(torch.zeros(2, P + 1))
    with pytest.raises(ValueError, match='momentum'):
        Center(P, momentum=1.5)


# Uneven split of the global batch over 2 ranks, over 3 steps (rank 0 has no row at step 2).
GLOBAL_STEPS = [torch.softmax(torch.randn(n, P, generator=torch.Generator().manual_seed(n)), -1)
                for n in (8, 4, 6)]
SPLITS = [(3, 5), (0, 4), (6, 0)]


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    init_gloo_rank(rank, world_size, port)
    try:
        center = Center(P, init_value=1.0 / P)
        for rows, split in zip(GLOBAL_STEPS, SPLITS):
            start = sum(split[:rank])
            center.update(rows[start:start + split[rank]])
        # rank 0 sends 2 rows, rank 1 one row
        total, count = global_batch_sum(GLOBAL_STEPS[0][:2 - rank])
        torch.save({'center': center.value, 'total': total, 'count': count},
                   os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_one_process(tmp_path):
    run_ranks(_worker, str(tmp_path))
    single = Center(P, init_value=1.0 / P)
    for rows in GLOBAL_STEPS:
        single.update(rows)
    for rank in range(2):
        result = torch.load(tmp_path / f'rank{rank}.pt')
        torch.testing.assert_close(result['center'], single.value, rtol=0, atol=1e-7)
        # global_batch_sum: rows 0-1 from rank 0 and row 0 from rank 1: 3 rows
        expected = GLOBAL_STEPS[0][:2].sum(0) + GLOBAL_STEPS[0][:1].sum(0)
        torch.testing.assert_close(result['total'], expected)
        assert result['count'].item() == 3
    # the distributed result differs from a center fed only one rank's share
    local = Center(P, init_value=1.0 / P)
    for rows, split in zip(GLOBAL_STEPS, SPLITS):
        local.update(rows[:split[0]])
    assert (local.value - single.value).abs().max() > 1e-3
