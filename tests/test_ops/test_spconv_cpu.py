"""spconv on CPU tensors: forward and the s3pt_mm backward against dense re-derivations.

A sparse convolution evaluated at its active output sites equals a dense ``conv3d`` of the
zero-filled voxel grid at those sites (regular convolution: stride/padding as given; submanifold:
stride 1, padding k // 2, output sites = input sites). Gradients of a random linear function of
the outputs are compared with the dense convolution's autograd gradients; the inverse
convolution (no simple dense twin) against autograd through a gather-matmul-scatter forward
written here from the rule book.
"""
import pytest
import torch
import torch.nn.functional as F

spconv = pytest.importorskip('spconv.pytorch')

from s3pt_mm.ops.spconv_cpu import (enable_spconv_cpu_backward,  # noqa: E402
                                    sparse_conv_backward, spconv_cpu_backward_enabled)

SHAPE = (6, 7, 5)  # D, H, W


def _random_voxels(seed: int, batch: int = 2, count: int = 25, channels: int = 3):
    gen = torch.Generator().manual_seed(seed)
    flat = torch.randperm(batch * SHAPE[0] * SHAPE[1] * SHAPE[2], generator=gen)[:count]
    b, rest = flat // (SHAPE[0] * SHAPE[1] * SHAPE[2]), flat % (SHAPE[0] * SHAPE[1] * SHAPE[2])
    z, rest = rest // (SHAPE[1] * SHAPE[2]), rest % (SHAPE[1] * SHAPE[2])
    y, x = rest // SHAPE[2], rest % SHAPE[2]
    indices = torch.stack([b, z, y, x], dim=1).int()
    feats = torch.randn(count, channels, generator=gen, dtype=torch.float64)
    return indices, feats


def _dense(indices, feats, batch: int = 2):
    """Zero-filled (B, C, D, H, W) grid holding ``feats`` at ``indices`` (b, z, y, x)."""
    vol = feats.new_zeros(batch, feats.shape[1], *SHAPE)
    b, z, y, x = indices.long().unbind(1)
    vol[b, :, z, y, x] = feats
    return vol


def _gather(vol, indices):
    b, z, y, x = indices.long().unbind(1)
    return vol[b, :, z, y, x]


def _krsc_to_dense(weight):
    return weight.permute(0, 4, 1, 2, 3)  # (C_out, kD, kH, kW, C_in) -> (C_out, C_in, k...)


def test_enabled_on_import():
    import s3pt_mm  # noqa: F401
    assert spconv_cpu_backward_enabled()
    assert enable_spconv_cpu_backward() is True  # idempotent


@pytest.mark.parametrize('kind', ['subm', 'strided'])
def test_forward_and_backward_match_dense_conv(kind):
    enable_spconv_cpu_backward()
    indices, feats = _random_voxels(seed=1 if kind == 'subm' else 2)
    feats.requires_grad_(True)
    if kind == 'subm':
        conv = spconv.SubMConv3d(3, 4, 3, bias=False, indice_key='s')
        stride, padding = 1, 1
    else:
        conv = spconv.SparseConv3d(3, 4, 3, stride=2, padding=1, bias=False)
        stride, padding = 2, 1
    conv = conv.double()
    out = conv(spconv.SparseConvTensor(feats, indices, list(SHAPE), 2))
    gen = torch.Generator().manual_seed(7)
    probe = torch.randn(out.features.shape, generator=gen, dtype=torch.float64)
    (out.features * probe).sum().backward()

    feats_ref = feats.detach().clone().requires_grad_(True)
    weight_ref = conv.weight.detach().clone().requires_grad_(True)
    dense_out = F.conv3d(_dense(indices, feats_ref), _krsc_to_dense(weight_ref), stride=stride,
                         padding=padding)
    ref = _gather(dense_out, out.indices)
    (ref * probe).sum().backward()
    assert kind == 'subm' or out.features.shape[0] > feats.shape[0]  # strided conv dilates
    torch.testing.assert_close(out.features, ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(feats.grad, feats_ref.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(conv.weight.grad, weight_ref.grad, rtol=1e-10, atol=1e-10)


def _rule_book_forward(feats, weight, pairs, counts, inverse):
    """out[o] += W_k in[i] for every pair of every offset (the definition, differentiable)."""
    row_in, row_out = (1, 0) if inverse else (0, 1)
    w = weight.reshape(weight.shape[0], -1, weight.shape[-1])
    n_out = int(pairs[row_out].max()) + 1
    out = feats.new_zeros(n_out, w.shape[0])
    for k, n in enumerate(counts.tolist()):
        if n > 0:
            i, o = pairs[row_in, k, :n].long(), pairs[row_out, k, :n].long()
            out = out.index_add(0, o, feats[i] @ w[:, k].T)
    return out


def test_inverse_conv_backward_matches_autograd_of_rule_book():
    enable_spconv_cpu_backward()
    indices, feats = _random_voxels(seed=3)
    down = spconv.SparseConv3d(3, 5, 3, stride=2, padding=1, bias=False,
                               indice_key='d').double()
    up = spconv.SparseInverseConv3d(5, 2, 3, bias=False, indice_key='d').double()
    x = down(spconv.SparseConvTensor(feats, indices, list(SHAPE), 2))
    mid = x.features.detach().clone().requires_grad_(True)
    y = up(x.replace_feature(mid))
    probe = torch.randn(y.features.shape, generator=torch.Generator().manual_seed(5),
                        dtype=torch.float64)
    (y.features * probe).sum().backward()
    assert y.features.shape[0] == feats.shape[0]  # back on the input sites

    pairs, counts = x.indice_dict['d'].indice_pairs, x.indice_dict['d'].indice_pair_num
    mid_ref = mid.detach().clone().requires_grad_(True)
    weight_ref = up.weight.detach().clone().requires_grad_(True)
    ref = _rule_book_forward(mid_ref, weight_ref, pairs, counts, inverse=True)
    torch.testing.assert_close(y.features, ref, rtol=1e-10, atol=1e-10)
    (ref * probe).sum().backward()
    torch.testing.assert_close(mid.grad, mid_ref.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(up.weight.grad, weight_ref.grad, rtol=1e-10, atol=1e-10)


def test_gradcheck_against_finite_differences():
    """The backward equals central finite differences of spconv's own CPU forward."""
    enable_spconv_cpu_backward()
    indices, feats = _random_voxels(seed=4, count=10, channels=2)
    conv = spconv.SubMConv3d(2, 2, 3, bias=False, indice_key='g').double()
    weight = conv.weight.detach().clone()

    def fn(f, w):
        conv.weight = torch.nn.Parameter(w) if not isinstance(w, torch.nn.Parameter) else w
        return conv(spconv.SparseConvTensor(f, indices, list(SHAPE), 2)).features

    f = feats.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: fn(f, weight), (f,), eps=1e-6, atol=1e-7)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match='do not match'):
        sparse_conv_backward(torch.zeros(3, 2), torch.zeros(4, 3, 3, 3, 5), torch.zeros(3, 4),
                             torch.zeros(2, 27, 3, dtype=torch.int32),
                             torch.zeros(27, dtype=torch.int32))
    with pytest.raises(ValueError, match='rule book'):
        sparse_conv_backward(torch.zeros(3, 2), torch.zeros(4, 3, 3, 3, 2), torch.zeros(3, 4),
                             torch.zeros(2, 8, 3, dtype=torch.int32),
                             torch.zeros(8, dtype=torch.int32))
