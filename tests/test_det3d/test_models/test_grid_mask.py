"""GridMask: the kept fraction 1 - (1 - l/d)^2, train-only, per-image probability, CPU."""
import pytest
import torch

from s3pt_mm.det3d.models.grid_mask import GridMask, grid_keep_mask


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
    gm = GridMask(ratio=0.5, prob=0.7)
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
