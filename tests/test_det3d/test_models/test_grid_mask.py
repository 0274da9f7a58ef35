"""GridMask: the kept fraction 1 - (1 - l/d)^2, the official border rule (re-derived on its
1.5x canvas), one draw per batch by default, train-only, per-image option, CPU."""
import numpy as np
import pytest
import torch

from s3pt_mm.det3d.models.grid_mask import GridMask, grid_keep_mask, official_grid_keep_mask


@pytest.mark.parametrize('unit,keep', [(8, 4), (10, 3), (32, 16)])
def test_keep_mask_fraction_and_period(unit, keep):
    h, w = 4 * unit, 6 * unit  # whole cells, so the fraction is exact
    mask = grid_keep_mask((h, w), unit, keep, (3, 5))
    assert float(mask.float().mean()) == pytest.approx(1 - (1 - keep / unit) ** 2)
    # Periodic with period d in both directions; offset (3, 5) shifts the grid.
    assert torch.equal(mask[:unit], mask[unit:2 * unit])
    assert torch.equal(mask[:, :unit], mask[:, unit:2 * unit])
    assert bool(mask[(unit - 3) % unit, 0]) and bool(mask[0, (unit - 5) % unit])
    assert not bool(mask[(unit - 3 + keep) % unit, (unit - 5 + keep) % unit])


def test_grid_keep_mask_rejects_bad_widths():
    with pytest.raises(ValueError, match='keep_width'):
        grid_keep_mask((8, 8), 4, 4, (0, 0))


def test_grid_mask_only_in_training_and_with_probability():
    torch.manual_seed(0)
    imgs = torch.randn(400, 3, 32, 80)
    gm = GridMask(ratio=0.5, prob=0.7, per_batch=False)
    gm.eval()
    assert gm(imgs) is imgs
    gm.train()
    out = gm(imgs)
    changed = (out != imgs).flatten(1).any(1)
    masked_share = float(changed.float().mean())
    # Binomial(400, 0.7): 5 sigma = 0.115.
    assert abs(masked_share - 0.7) < 0.115
    # Masked pixels are exactly zero, the rest untouched.
    zero = out == 0
    assert torch.equal(out[~zero], imgs[~zero])
    # PETR's ratio 0.5 keeps ~75 % of a masked image (cells larger than the image keep more).
    kept = (~zero[changed]).float().flatten(1).mean(1)
    assert 0.7 < float(kept.mean()) < 0.95
    assert torch.equal(GridMask(prob=0.0).train()(imgs), imgs)


def _canvas_mask(h, w, d, length, st_h, st_w):
    """The official draw as described in docs/detection3d.md: stripes (zeros) on a 1.5x
    canvas, inverted (mode 1: stripes kept), centre crop."""
    hh, ww = int(1.5 * h), int(1.5 * w)
    canvas = np.ones((hh, ww), np.float32)
    for i in range(hh // d):
        s = d * i + st_h
        canvas[s:min(s + length, hh), :] = 0
    for i in range(ww // d):
        s = d * i + st_w
        canvas[:, s:min(s + length, ww)] = 0
    canvas = 1 - canvas
    top, left = (hh - h) // 2, (ww - w) // 2
    return canvas[top:top + h, left:left + w] > 0.5


@pytest.mark.parametrize('h,w,d,st', [(32, 80, 7, (6, 2)), (20, 50, 19, (18, 0)),
                                      (64, 160, 2, (1, 1)), (45, 45, 13, (0, 12))])
def test_official_border_rule_matches_the_canvas_construction(h, w, d, st):
    length = min(max(int(d * 0.5 + 0.5), 1), d - 1)
    ours = official_grid_keep_mask((h, w), d, length, st)
    assert torch.equal(ours, torch.from_numpy(_canvas_mask(h, w, d, length, *st)))


def test_one_draw_per_batch_by_default():
    torch.manual_seed(1)
    imgs = torch.rand(6, 3, 32, 80) + 1.0  # no pixel is zero before masking
    gm = GridMask().train()
    coins = 0
    for _ in range(40):
        out = gm(imgs)
        dropped = out == 0
        if dropped.any():
            coins += 1
            # The same pixels of every image and channel.
            assert torch.equal(dropped, dropped[:1, :1].expand_as(dropped))
    assert 0.7 - 0.36 < coins / 40 <= 1.0  # Binomial(40, 0.7): 5 sigma = 0.36
