"""Prototypes: t built from class t; 2 gloo processes equal 1; L_pro epoch switch (docs/csc.md §4)."""
import numpy as np
import pytest
import torch

from s3pt_mm.csc import (CSCCriterion, PrototypeAccumulator, SemanticMapSuperpixels,
                         pool_superpixels, superpixel_majority_class)
from s3pt_mm.testing import init_gloo_rank, run_ranks


def _semantic_batch(seed, num_images=2, classes=(1, 3, 4)):
    """Images split into vertical bands of given classes; pixel features = class * e_0 + noise."""
    g = torch.Generator().manual_seed(seed)
    h, w, c = 4, 9, 3
    sem = np.zeros((num_images, h, w), dtype=np.int64)
    for i in range(num_images):
        for b, cls in enumerate(classes):
            sem[i, :, 3 * b:3 * b + 3] = cls
    source = SemanticMapSuperpixels(num_classes=6)
    sps, cls_maps = zip(*[source(None, s) for s in sem])
    sp = torch.from_numpy(np.stack(sps))
    pixel = torch.randn(num_images, c, h, w, generator=g, dtype=torch.float64)
    points = torch.randn(30, c, generator=g, dtype=torch.float64)
    pairs_i = torch.stack([torch.randint(0, num_images, (50,), generator=g),
                           torch.randint(0, h, (50,), generator=g),
                           torch.randint(0, w, (50,), generator=g)], 1)
    pairs_p = torch.randint(0, 30, (50,), generator=g)
    return pixel, points, sp, torch.from_numpy(np.stack(cls_maps)), pairs_p, pairs_i


def _accumulate(batches, sync='weighted'):
    acc = PrototypeAccumulator(num_classes=6, channels=3, sync=sync)
    for pixel, points, sp, cls, pp, pi in batches:
        pooled = pool_superpixels(points, pixel, sp, pp, pi, num_superpixels=7)
        classes = superpixel_majority_class(sp, cls, 7, 6)[pooled.index]
        acc.update(pooled.pixel_feats, pooled.point_feats, classes)
    return acc


def test_prototype_t_is_built_from_class_t():
    """No index shift: row t = mean of the paired superpixels whose semantic class is t."""
    batches = [_semantic_batch(s) for s in range(3)]
    pix_proto, pt_proto = _accumulate(batches).compute()
    for t in range(6):
        pix_rows, pt_rows = [], []
        for pixel, points, sp, cls, pp, pi in batches:
            for b in range(pixel.shape[0]):
                mask = cls[b] == t
                paired = [int(pp[j]) for j in range(len(pp)) if int(pi[j, 0]) == b and
                          bool(mask[pi[j, 1], pi[j, 2]])]
                if mask.any() and paired:
                    pix_rows.append(pixel[b][:, mask].mean(1))
                    pt_rows.append(points[paired].mean(0))
        if t in (1, 3, 4):
            assert pix_rows, t
            torch.testing.assert_close(pix_proto[t], torch.stack(pix_rows).mean(0).float())
            torch.testing.assert_close(pt_proto[t], torch.stack(pt_rows).mean(0).float())
        else:  # a class absent from every batch keeps a zero prototype, no NaN
            assert not pix_rows and float(pix_proto[t].abs().sum()) == 0.0


def _rank_worker(rank, world_size, port, out_dir, sync):
    init_gloo_rank(rank, world_size, port)
    # Rank 0 sees classes {1, 3, 4}, rank 1 {1, 5}: class 5 is absent from rank 0.
    classes = (1, 3, 4) if rank == 0 else (1, 5)
    acc = _accumulate([_semantic_batch(10 + rank, classes=classes)], sync=sync)
    pix, pt = acc.compute()
    torch.save((pix, pt), f'{out_dir}/rank{rank}.pt')


@pytest.mark.parametrize('sync', ['weighted', 'rank_mean'])
def test_two_gloo_processes_vs_one(tmp_path, sync):
    run_ranks(_rank_worker, str(tmp_path), sync, nprocs=2)
    pix0, pt0 = torch.load(tmp_path / 'rank0.pt')
    pix1, pt1 = torch.load(tmp_path / 'rank1.pt')
    torch.testing.assert_close(pix0, pix1)
    torch.testing.assert_close(pt0, pt1)
    per_rank = [_accumulate([_semantic_batch(10 + r, classes=c)]).compute()
                for r, c in ((0, (1, 3, 4)), (1, (1, 5)))]
    if sync == 'weighted':  # equals one process that saw both ranks' data
        both = _accumulate([_semantic_batch(10, classes=(1, 3, 4)),
                            _semantic_batch(11, classes=(1, 5))]).compute()
        torch.testing.assert_close(pix0, both[0])
        torch.testing.assert_close(pt0, both[1])
    else:  # the reference: plain mean of the per-rank prototypes
        torch.testing.assert_close(pix0, (per_rank[0][0] + per_rank[1][0]) / 2)
        torch.testing.assert_close(pt0, (per_rank[0][1] + per_rank[1][1]) / 2)


def test_prototype_loss_off_before_start_epoch_and_mean_reduction():
    torch.manual_seed(0)
    crit = CSCCriterion(num_prototypes=4, channels=3, hidden=8, start_epoch=5)
    k, q = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 3, 1, -1])
    crit.set_prototypes(torch.randn(4, 3), torch.randn(4, 3))
    for epoch in range(5):
        crit.set_epoch(epoch)
        out = crit(k, q, y)
        assert set(out) == {'loss_sp', 'sp_infonce'}
    crit.set_epoch(5)
    out = crit(k, q, y)
    assert set(out) >= {'loss_sp', 'loss_pro'}
    total = out['loss_sp'] + out['loss_pro']
    expected = (out['sp_infonce'] + out['pro_ce']) / 2  # the reference averages the losses
    torch.testing.assert_close(total, expected)
    # SLidR: never a prototype loss.
    slidr = CSCCriterion(num_prototypes=4, channels=3, hidden=8, use_prototype_loss=False)
    slidr.set_epoch(50)
    assert set(slidr(k, q)) == {'loss_sp', 'sp_infonce'}


def test_prototype_loss_waits_for_built_prototypes():
    crit = CSCCriterion(num_prototypes=4, channels=3, hidden=8, start_epoch=0)
    assert crit.needs_prototypes and not crit.prototype_loss_active
    with pytest.raises(ValueError, match='prototypes must be'):
        crit.set_prototypes(torch.zeros(3, 3), torch.zeros(4, 3))
