"""CrossImageQueue: FIFO order, wrap-around, cycle-consistency, state dict, gloo all-gather."""
import os

import pytest
import torch
import torch.distributed as dist

from s3pt_mm.models.utils.cross_image_queue import (CrossImageQueue, cycle_consistent,
                                                    nearest_neighbours, resolve_search)
from s3pt_mm.testing import init_gloo_rank, run_ranks


def images(ids, k=1, d=1):
    """(B, 2, k, D) object tokens whose view-0 value is the image id and view-1 value -id."""
    ids = torch.tensor(ids, dtype=torch.float32).view(-1, 1, 1, 1)
    return torch.cat([ids, -ids], dim=1).expand(-1, 2, k, d).clone()


def slot_ids(queue):
    return queue.tokens[0, :, 0, 0].tolist()


def test_fifo_order_and_wrap_around():
    queue = CrossImageQueue(queue_size=3, num_objects=1, embed_dims=1)
    queue.enqueue(images([10, 11]), torch.ones(2, 1, dtype=torch.bool))
    assert slot_ids(queue) == [10, 11, 0] and queue.ptr.item() == 2 and not queue.is_full
    assert queue.valid[:, 0].tolist() == [True, True, False]
    # wraps: 12 goes to the last slot, 13 overwrites the oldest image (10)
    queue.enqueue(images([12, 13]), torch.tensor([[True], [False]]))
    assert slot_ids(queue) == [13, 11, 12] and queue.ptr.item() == 1 and queue.is_full
    assert queue.valid[:, 0].tolist() == [False, True, True]
    assert queue.tokens[1, :, 0, 0].tolist() == [-13, -11, -12]
    # more images than slots at once: the last 3 (16, 17, 18) survive in FIFO positions
    queue.enqueue(images([14, 15, 16, 17, 18]), torch.ones(5, 1, dtype=torch.bool))
    assert slot_ids(queue) == [16, 17, 18] and queue.ptr.item() == 0
    assert queue.num_enqueued.item() == 9


def hand_made_queue():
    """Image 0 (valid) holds the true neighbours; image 1 (invalid) holds exact copies of the
    current objects, which must never be returned."""
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])   # current objects, view 0
    b = torch.tensor([[1.0, 0.0, 0.1], [0.0, 1.0, 0.1]])   # current objects, view 1
    img0 = torch.tensor([[[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]],    # view 0: near a0, near a1
                         [[1.0, 0.0, 0.0], [0.9, 0.0, 0.5]]])   # view 1: near b0, near b0 (!)
    img1 = torch.stack([a, b])
    queue = CrossImageQueue(queue_size=3, num_objects=2, embed_dims=3)
    queue.enqueue(torch.stack([img0, img1]), torch.tensor([[True, True], [False, False]]))
    return queue, torch.stack([a, b])


def test_cycle_consistency_known_answer():
    queue, current = hand_made_queue()
    match = queue.retrieve(current)
    # direction 0: a0 -> img0 obj0 (view 1 [1,0,0] -> nearest b0: back to a0, kept);
    #              a1 -> img0 obj1 (view 1 [0.9,0,0.5] -> nearest b0, not b1: dropped).
    # direction 1: b0 -> img0 obj0 (cos 0.995 vs 0.918), view 0 [0.9,0.1,0] -> a0: kept;
    #              b1 -> img0 obj1 (cos 0.048 vs 0), view 0 [0.1,0.9,0] -> a1: kept.
    assert match.indices.tolist() == [[0, 1], [0, 1]]
    assert match.consistent.tolist() == [[True, False], [True, True]]
    assert match.consistent_ratio.item() == pytest.approx(0.75)
    torch.testing.assert_close(match.neighbours[0], queue.tokens[0, 0])
    torch.testing.assert_close(match.neighbours[1], queue.tokens[1, 0])


def test_nearest_neighbours_chunked_equals_brute_force():
    gen = torch.Generator().manual_seed(3)
    queries, bank = torch.randn(11, 5, generator=gen), torch.randn(21, 5, generator=gen) * 4
    valid = torch.rand(21, generator=gen) > 0.4
    # 11 * 2 elements per chunk -> the bank is scanned in 11 chunks of 2
    index, found = nearest_neighbours(queries, bank, valid, max_chunk_elements=22)
    cos = torch.nn.functional.cosine_similarity(queries[:, None], bank[None], dim=-1)
    expected = cos.masked_fill(~valid, -2).argmax(dim=1)
    assert found.all() and torch.equal(index, expected)
    assert valid[index].all()


@pytest.mark.parametrize('chunk_elements', [2**27, 5000])
def test_bf16_rerank_equals_exact_search(chunk_elements):
    """The bf16 shortlist + fp32 re-ranking returns the exact nearest neighbour.

    Realistic geometry: object tokens in clusters (400 centres, spread 0.3), so that many bank
    rows are close to each query and bf16 scores alone would pick a wrong row.
    """
    gen = torch.Generator().manual_seed(0)
    centres = torch.randn(400, 384, generator=gen)
    bank = centres[torch.randint(0, 400, (20000,), generator=gen)] + \
        0.3 * torch.randn(20000, 384, generator=gen)
    bank = bank * (1 + 3 * torch.rand(20000, 1, generator=gen))  # un-normalised, like tokens
    queries = centres[torch.randint(0, 400, (300,), generator=gen)] + \
        0.3 * torch.randn(300, 384, generator=gen)
    valid = torch.rand(20000, generator=gen) > 0.2
    exact, found = nearest_neighbours(queries, bank, valid, chunk_elements, search='exact')
    fast, fast_found = nearest_neighbours(queries, bank, valid, chunk_elements,
                                          search='bf16_rerank', candidates=16)
    assert found.all() and fast_found.all() and valid[fast].all()
    assert torch.equal(fast, exact)
    # bf16 scores alone (a shortlist of 1) are wrong for a share of the queries: the
    # re-ranking is what makes the search exact.
    coarse, _ = nearest_neighbours(queries, bank, valid, chunk_elements,
                                   search='bf16_rerank', candidates=1)
    assert (coarse != exact).float().mean() > 0.05


def test_bf16_rerank_with_few_valid_rows_and_no_valid_row():
    gen = torch.Generator().manual_seed(1)
    queries, bank = torch.randn(7, 16, generator=gen), torch.randn(40, 16, generator=gen)
    valid = torch.zeros(40, dtype=torch.bool)
    valid[[3, 17, 29]] = True  # fewer valid rows than candidates
    exact, _ = nearest_neighbours(queries, bank, valid, search='exact')
    fast, found = nearest_neighbours(queries, bank, valid, search='bf16_rerank', candidates=16)
    assert found.all() and torch.equal(fast, exact)
    _, none = nearest_neighbours(queries, bank, torch.zeros(40, dtype=torch.bool),
                                 search='bf16_rerank')
    assert not none.any()


def test_search_mode_resolution_and_errors():
    assert resolve_search('auto', torch.device('cpu')) == 'exact'
    assert resolve_search('auto', torch.device('cuda')) == 'bf16_rerank'
    assert resolve_search('exact', torch.device('cuda')) == 'exact'
    with pytest.raises(ValueError, match='search must be one of'):
        CrossImageQueue(queue_size=2, num_objects=2, embed_dims=3, search='faiss')
    with pytest.raises(ValueError, match='candidates must be >= 1'):
        CrossImageQueue(queue_size=2, num_objects=2, embed_dims=3, candidates=0)


def test_cycle_consistent_function():
    current = torch.eye(3)
    neighbours = torch.tensor([[2.0, 0.1, 0.0], [1.0, 0.2, 0.0], [0.0, 0.0, 5.0]])
    assert cycle_consistent(neighbours, current).tolist() == [True, False, True]


def test_empty_queue_gives_no_pairs():
    queue = CrossImageQueue(queue_size=4, num_objects=2, embed_dims=3)
    match = queue.retrieve(torch.randn(2, 5, 3))
    assert match.neighbours.shape == (2, 5, 3) and not match.consistent.any()
    assert match.consistent_ratio.item() == 0.0
    none = queue.retrieve(torch.zeros(2, 0, 3))
    assert none.consistent.shape == (2, 0) and none.consistent_ratio.item() == 0.0


def test_state_dict_round_trip_and_resume():
    queue, current = hand_made_queue()
    state = queue.state_dict()
    assert list(state) == ['tokens', 'valid', 'ptr', 'num_enqueued']
    restored = CrossImageQueue(queue_size=3, num_objects=2, embed_dims=3)
    restored.load_state_dict(state)
    for name, buffer in queue.named_buffers():
        assert torch.equal(buffer, dict(restored.named_buffers())[name])
    assert torch.equal(restored.retrieve(current).consistent, queue.retrieve(current).consistent)
    # the pointer resumes where it was: the next images land in slot 2, then slot 0 (slot 1
    # keeps image 1, whose first channel is 1)
    restored.enqueue(images([7, 8], k=2, d=3), torch.ones(2, 2, dtype=torch.bool))
    assert restored.tokens[0, :, 0, 0].tolist() == [8.0, 1.0, 7.0] and restored.ptr.item() == 1


def test_batch_size_one():
    queue = CrossImageQueue(queue_size=2, num_objects=3, embed_dims=4)
    objects = torch.randn(1, 2, 3, 4)
    valid = torch.tensor([[True, False, True]])
    queue.enqueue(objects, valid)
    # the same image as query retrieves itself, cycle-consistently, for its valid objects
    match = queue.retrieve(objects[0][:, valid[0]])
    assert match.indices.tolist() == [[0, 2], [0, 2]] and match.consistent.all()


def test_bad_shapes():
    queue = CrossImageQueue(queue_size=2, num_objects=3, embed_dims=4)
    with pytest.raises(ValueError, match='objects must be'):
        queue.enqueue(torch.randn(1, 2, 2, 4), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='valid must be'):
        queue.enqueue(torch.randn(1, 2, 3, 4), torch.ones(2, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match='objects must be'):
        queue.retrieve(torch.randn(3, 5, 4))


# Per step, rank 0 and rank 1 contribute different numbers of images (2 + 1, then 1 + 3).
RANK_IMAGES = [([1, 2], [3]), ([4], [5, 6, 7])]


def _worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    init_gloo_rank(rank, world_size, port)
    try:
        queue = CrossImageQueue(queue_size=5, num_objects=2, embed_dims=3)
        for step in RANK_IMAGES:
            ids = step[rank]
            valid = torch.tensor([[i % 2 == 0, True] for i in ids])
            queue.enqueue(images(ids, k=2, d=3), valid)
        torch.save(queue.state_dict(), os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_one_process(tmp_path):
    run_ranks(_worker, str(tmp_path))
    single = CrossImageQueue(queue_size=5, num_objects=2, embed_dims=3)
    for step in RANK_IMAGES:
        ids = step[0] + step[1]  # rank order
        single.enqueue(images(ids, k=2, d=3), torch.tensor([[i % 2 == 0, True] for i in ids]))
    assert slot_ids(single) == [6.0, 7.0, 3.0, 4.0, 5.0]
    for rank in range(2):
        state = torch.load(tmp_path / f'rank{rank}.pt')
        for name, buffer in single.state_dict().items():
            assert torch.equal(state[name], buffer), name
