"""prototype_logits and the two centred teacher targets, against their formulas."""
import math

import pytest
import torch

from s3pt_mm.models.utils.prototype_logits import (logit_centered_target,
                                                   probability_centered_target, prototype_logits)
from s3pt_mm.models.utils.vmf import log_vmf_normalizer


def test_plain_and_vmf_logits():
    logits = torch.tensor([[0.5, -0.2, 1.0]])
    norms = torch.tensor([1.0, 2.0, 0.5])
    torch.testing.assert_close(prototype_logits(logits, norms, 0.1), logits / 0.1)
    vmf = prototype_logits(logits, norms, 0.1, vmf_dim=3)
    # p = 3 in closed form: C_3(k) = k / (4 pi sinh k)
    log_c3 = torch.log(norms / 0.1 / (4 * math.pi * torch.sinh(norms / 0.1)))
    torch.testing.assert_close(vmf, logits / 0.1 + log_c3, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(vmf - logits / 0.1,
                               log_vmf_normalizer(norms / 0.1, 3).expand(1, 3))
    with pytest.raises(ValueError, match='> 0'):
        prototype_logits(logits, norms, 0.0)
    with pytest.raises(ValueError, match='prototype_norms'):
        prototype_logits(logits, norms[:2], 0.1, vmf_dim=3)


def test_logit_centered_target():
    logits = torch.tensor([[1.0, 2.0, 3.0]])
    center = torch.tensor([[0.5, 1.0, 3.0]])
    expected = torch.softmax(torch.tensor([[0.5, 1.0, 0.0]]) / 0.04, -1)
    torch.testing.assert_close(logit_centered_target(logits, center, 0.04), expected)


def test_probability_centered_target_is_renormalised_ratio():
    z = torch.tensor([[2.0, 0.0, -1.0, 0.5]])
    center = torch.tensor([[0.4, 0.1, 0.2, 0.3]])
    ratio = torch.softmax(z, -1) / center
    torch.testing.assert_close(probability_centered_target(z, center), ratio / ratio.sum())


def test_probability_center_zero_entry_stays_finite():
    # a prototype whose center underflowed to 0 gets a huge boost, not inf / NaN
    z = torch.tensor([[10.0, 0.0, -30.0]])
    target = probability_centered_target(z, torch.tensor([[0.5, 0.5, 0.0]]))
    assert torch.isfinite(target).all()
    torch.testing.assert_close(target, torch.tensor([[0.0, 0.0, 1.0]]))
