"""Pooling, L_sp and L_pro against independent loop re-derivations (docs/csc.md §2-§3)."""
import math

import numpy as np
import pytest
import torch

from s3pt_mm.csc import (pool_superpixels, prototype_loss, superpixel_infonce_loss,
                         superpixel_majority_class)


def _toy_batch(seed=0, num_images=3, height=6, width=7, channels=5, num_points=40, num_sp=4):
    g = torch.Generator().manual_seed(seed)
    pixel = torch.randn(num_images, channels, height, width, generator=g, dtype=torch.float64)
    points = torch.randn(num_points, channels, generator=g, dtype=torch.float64)
    sp = torch.randint(0, num_sp, (num_images, height, width), generator=g)
    m = 60
    pairing_points = torch.randint(0, num_points, (m,), generator=g)
    pairing_images = torch.stack([torch.randint(0, num_images, (m,), generator=g),
                                  torch.randint(0, height, (m,), generator=g),
                                  torch.randint(0, width, (m,), generator=g)], dim=1)
    return pixel, points, sp, pairing_points, pairing_images


def _pool_by_loops(pixel, points, sp, pairing_points, pairing_images, num_sp):
    """Superpixel (b, k): mean over its pixels; superpoint: mean over paired points."""
    rows = []
    for b in range(pixel.shape[0]):
        for k in range(num_sp):
            mask = sp[b] == k
            pts = [int(pairing_points[j]) for j in range(len(pairing_points))
                   if int(pairing_images[j, 0]) == b and
                   int(sp[b, pairing_images[j, 1], pairing_images[j, 2]]) == k]
            if not pts:
                continue
            pix_mean = pixel[b][:, mask].mean(dim=1)
            pt_mean = torch.stack([points[p] for p in pts]).mean(dim=0)
            rows.append((b * num_sp + k, pt_mean, pix_mean))
    return rows


def test_pooling_matches_loop_rederivation():
    pixel, points, sp, pp, pi = _toy_batch()
    out = pool_superpixels(points, pixel, sp, pp, pi)
    expected = _pool_by_loops(pixel, points, sp, pp, pi, 4)
    assert out.num_superpixels == 4
    assert out.index.tolist() == [r[0] for r in expected]
    torch.testing.assert_close(out.point_feats, torch.stack([r[1] for r in expected]))
    torch.testing.assert_close(out.pixel_feats, torch.stack([r[2] for r in expected]))


def _infonce_by_loops(k, q, tau):
    total = 0.0
    for i in range(len(k)):
        logits = [float(k[i] @ q[j]) / tau for j in range(len(q))]
        mx = max(logits)
        lse = mx + math.log(sum(math.exp(v - mx) for v in logits))
        total += lse - logits[i]
    return total / len(k)


def test_sp_infonce_matches_formula():
    g = torch.Generator().manual_seed(1)
    k = torch.nn.functional.normalize(torch.randn(9, 6, generator=g, dtype=torch.float64), dim=1)
    q = torch.nn.functional.normalize(torch.randn(9, 6, generator=g, dtype=torch.float64), dim=1)
    got = superpixel_infonce_loss(k, q, 0.07)
    assert float(got) == pytest.approx(_infonce_by_loops(k, q, 0.07), rel=1e-10)


def test_prototype_loss_matches_formula_and_skips_ignored():
    g = torch.Generator().manual_seed(2)
    k = torch.randn(7, 4, generator=g, dtype=torch.float64)
    protos = torch.randn(5, 4, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 4, -1, 2, 2, 7, 1])  # -1 and 7 (out of range) are ignored
    total, n = 0.0, 0
    for i in range(7):
        if not 0 <= int(y[i]) < 5:
            continue
        logits = [float(k[i] @ protos[t]) for t in range(5)]
        total += math.log(sum(math.exp(v) for v in logits)) - logits[int(y[i])]
        n += 1
    assert float(prototype_loss(k, protos, y, 1.0)) == pytest.approx(total / n, rel=1e-10)


def test_empty_and_single_superpixel_give_zero_not_nan():
    """A sweep with no point inside any camera (no pair) and an image with one superpixel."""
    pixel, points, _, _, _ = _toy_batch()
    pixel.requires_grad_(True)
    one_sp = torch.zeros(pixel.shape[0], *pixel.shape[2:], dtype=torch.long)
    # No pairs at all: K = 0.
    empty = pool_superpixels(points, pixel, one_sp, torch.zeros(0, dtype=torch.long),
                             torch.zeros(0, 3, dtype=torch.long))
    assert empty.point_feats.shape == (0, 5)
    loss = superpixel_infonce_loss(empty.point_feats, empty.pixel_feats)
    loss.backward()
    assert float(loss.detach()) == 0.0 and torch.isfinite(pixel.grad).all()
    # One image with one superpixel and one paired point: K = 1, the loss is exactly 0.
    single = pool_superpixels(points, pixel[:1], one_sp[:1], torch.tensor([3]),
                              torch.tensor([[0, 2, 2]]))
    assert single.point_feats.shape[0] == 1
    assert float(superpixel_infonce_loss(single.point_feats, single.pixel_feats)) == 0.0
    # A batch where no superpixel has a valid class: L_pro is an exact 0, not NaN.
    lp = prototype_loss(single.point_feats, torch.randn(3, 5, dtype=torch.float64),
                        torch.tensor([-1]))
    assert float(lp) == 0.0


def test_majority_class_per_superpixel():
    sp = torch.tensor([[[0, 0, 1], [1, 1, 2]]])
    sem = torch.tensor([[[3, 3, 0], [2, 2, 255]]])
    out = superpixel_majority_class(sp, sem, num_superpixels=4, num_classes=5)
    assert out.tolist() == [3, 2, -1, -1]  # 2 beats 0 in superpixel 1; 255 is not counted


def test_pooling_rejects_bad_shapes():
    pixel, points, sp, pp, pi = _toy_batch()
    with pytest.raises(ValueError, match='superpixels must be'):
        pool_superpixels(points, pixel, sp[:, :-1], pp, pi)
    with pytest.raises(ValueError, match='pairing_images'):
        pool_superpixels(points, pixel, sp, pp, pi[:-1])
    with pytest.raises(ValueError, match='>= 0'):
        pool_superpixels(points, pixel, sp - 1, pp, pi)
