"""pool_object_tokens against a per-cluster loop reference."""
import pytest
import torch

from s3pt_mm.models.utils.object_pooling import pool_object_tokens


def loop_reference(tokens, assignment, k):
    """Straightforward per-image, per-view, per-cluster mean (the definition, docs/method.md §6)."""
    b_size, v_size, _, d = tokens.shape
    means = torch.zeros(b_size, v_size, k, d, dtype=torch.float64)
    valid = torch.ones(b_size, k, dtype=torch.bool)
    for b in range(b_size):
        for j in range(k):
            for v in range(v_size):
                members = tokens[b, v][assignment[b, v] == j]
                if len(members) == 0:
                    valid[b, j] = False
                else:
                    means[b, v, j] = members.double().mean(dim=0)
    return means, valid


@pytest.mark.parametrize('b_size,n,k', [(1, 5, 3), (3, 7, 4), (2, 16, 8)])
def test_matches_loop_reference(b_size, n, k):
    gen = torch.Generator().manual_seed(b_size * 100 + k)
    tokens = torch.randn(b_size, 2, n, 6, generator=gen) * 3 + 1
    assignment = torch.randint(0, k, (b_size, 2, n), generator=gen)
    means, valid = pool_object_tokens(tokens, assignment, k)
    ref_means, ref_valid = loop_reference(tokens, assignment, k)
    assert means.shape == (b_size, 2, k, 6) and means.dtype == torch.float32
    assert torch.equal(valid, ref_valid)
    torch.testing.assert_close(means.double(), ref_means, rtol=1e-6, atol=1e-6)


def test_cluster_empty_in_one_view_is_invalid_and_zero_there():
    tokens = torch.arange(2 * 4 * 2, dtype=torch.float32).reshape(1, 2, 4, 2)
    # cluster 0: both views; cluster 1: only view 0; cluster 2: nowhere.
    assignment = torch.tensor([[[0, 1, 1, 0], [0, 0, 0, 0]]])
    means, valid = pool_object_tokens(tokens, assignment, 3)
    assert valid.tolist() == [[True, False, False]]
    # view 0, cluster 0 = mean of tokens 0 and 3 = ([0,1] + [6,7]) / 2
    assert means[0, 0, 0].tolist() == [3.0, 4.0]
    # view 0, cluster 1 = mean of tokens 1 and 2 = ([2,3] + [4,5]) / 2
    assert means[0, 0, 1].tolist() == [3.0, 4.0]
    # view 1, cluster 0 = mean of the 4 view-1 tokens [8..15] -> [11, 12]
    assert means[0, 1, 0].tolist() == [11.0, 12.0]
    assert means[0, 1, 1].tolist() == [0.0, 0.0] and means[0, :, 2].abs().sum() == 0


def test_gradient_is_one_over_cluster_size():
    tokens = torch.randn(1, 2, 5, 3, requires_grad=True)
    assignment = torch.tensor([[[0, 0, 1, 1, 1], [2, 0, 0, 0, 0]]])
    means, _ = pool_object_tokens(tokens, assignment, 3)
    means.sum().backward()
    # d(sum of means)/d token = 1/|cluster| for each of the D channels
    expected = torch.tensor([[1 / 2, 1 / 2, 1 / 3, 1 / 3, 1 / 3], [1, 1 / 4, 1 / 4, 1 / 4, 1 / 4]])
    torch.testing.assert_close(tokens.grad[0, :, :, 0], expected)


def test_dtype_preserved_and_bad_input():
    tokens = torch.randn(2, 2, 4, 3).half()
    assignment = torch.zeros(2, 2, 4, dtype=torch.long)
    means, valid = pool_object_tokens(tokens, assignment, 2)
    assert means.dtype == torch.float16 and valid[:, 0].all() and not valid[:, 1].any()
    with pytest.raises(ValueError, match=r'\[0, 2\)'):
        pool_object_tokens(tokens, assignment + 2, 2)
    with pytest.raises(ValueError, match='assignment must be'):
        pool_object_tokens(tokens, assignment[:, :, :3], 2)
    with pytest.raises(ValueError, match='integer'):
        pool_object_tokens(tokens, assignment.float(), 2)
