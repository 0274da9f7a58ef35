"""S3PTHead: exact reduction to DINO, vMF logits against scipy, centering, state, freezing."""
import copy
import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from s3pt_mm.models.heads.s3pt_head import S3PTHead
from s3pt_mm.testing import init_gloo_rank, run_ranks

scipy_special = pytest.importorskip('scipy.special')

D, HIDDEN, BOTTLENECK, P = 6, 16, 8, 5


def make_head(**kwargs) -> S3PTHead:
    torch.manual_seed(0)
    cfg = dict(in_channels=D, out_channels=P, hidden_channels=HIDDEN,
               bottleneck_channels=BOTTLENECK)
    cfg.update(kwargs)
    return S3PTHead(**cfg)


def set_gains(head: S3PTHead, gains) -> None:
    for layer in (head.last_layer, head.object_last_layer):
        with torch.no_grad():
            layer.parametrizations.weight.original0.copy_(torch.tensor(gains).view(-1, 1))


def hand_written_dino(head: S3PTHead, x: torch.Tensor, which: str = 'cls') -> torch.Tensor:
    """DINO's head (Caron et al. 2021, `DINOHead.forward`) written out with the same weights:
    3-layer MLP with GELU, L2-normalise, then x @ (g v / ||v||)^T."""
    (l1, _, l2, _, l3) = head.mlp
    h = F.gelu(x @ l1.weight.T + l1.bias)
    h = F.gelu(h @ l2.weight.T + l2.bias)
    h = h @ l3.weight.T + l3.bias
    y = h / h.norm(dim=-1, keepdim=True)
    layer = head.last_layer if which == 'cls' else head.object_last_layer
    g = layer.parametrizations.weight.original0
    v = layer.parametrizations.weight.original1
    return y @ (g * v / v.norm(dim=1, keepdim=True)).T


def scipy_log_c(kappa: torch.Tensor, p: int) -> torch.Tensor:
    """log C_p(k) = (p/2-1) log k - (p/2) log 2pi - log I_{p/2-1}(k), I via scipy's ive."""
    k = kappa.double().numpy()
    nu = p / 2 - 1
    return torch.from_numpy(nu * np.log(k) - p / 2 * np.log(2 * np.pi)
                            - (np.log(scipy_special.ive(nu, k)) + k))


def test_plain_head_is_exactly_dino_with_logit_centering():
    head = make_head(use_vmf=False, teacher_temp=0.04, student_temp=0.1)
    assert head.centering == 'logit'
    x_student, x_teacher = torch.randn(4, D), torch.randn(4, D)
    out_s, out_t = head(x_student), head(x_teacher)
    ref_s, ref_t = hand_written_dino(head, x_student), hand_written_dino(head, x_teacher)
    torch.testing.assert_close(out_s.logits, ref_s, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out_s.prototype_norms, torch.ones(P))  # g frozen at 1
    # DINO: student log_softmax(s / 0.1); teacher softmax((t - c) / 0.04), c starts at 0
    torch.testing.assert_close(head.student_log_prob(out_s), F.log_softmax(ref_s / 0.1, -1),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(head.teacher_target(out_t), F.softmax(ref_t / 0.04, -1),
                               rtol=1e-5, atol=1e-6)
    # DINO's update_center: c = 0.9 c + 0.1 mean(raw teacher output), after the targets
    center = 0.1 * ref_t.mean(0, keepdim=True)
    torch.testing.assert_close(head.centers['cls'].value, center, rtol=1e-5, atol=1e-7)
    x2 = torch.randn(3, D)
    target2 = head.teacher_target(head(x2))
    ref2 = hand_written_dino(head, x2)
    torch.testing.assert_close(target2, F.softmax((ref2 - center) / 0.04, -1), rtol=1e-5,
                               atol=1e-6)
    torch.testing.assert_close(head.centers['cls'].value,
                               0.9 * center + 0.1 * ref2.mean(0, keepdim=True),
                               rtol=1e-5, atol=1e-7)
    # the object output has its own layer and its own, untouched center
    torch.testing.assert_close(head(x_student, 'object').logits,
                               hand_written_dino(head, x_student, 'object'), rtol=1e-5, atol=1e-6)
    assert head.centers['object'].value.abs().sum() == 0


def test_vmf_logits_equal_scipy_formula():
    head = make_head(use_vmf=True, norm_last_layer=False, teacher_temp=0.04, student_temp=0.1)
    gains = [0.5, 1.0, 2.0, 3.0, 4.0]
    set_gains(head, gains)
    x = torch.randn(3, D)
    out = head(x)
    torch.testing.assert_close(out.prototype_norms, torch.tensor(gains))
    raw = hand_written_dino(head, x).double()
    # kappa = ||w_k|| / 0.1 in [5, 40]
    expected = F.log_softmax(raw / 0.1 + scipy_log_c(torch.tensor(gains) / 0.1, BOTTLENECK), -1)
    torch.testing.assert_close(head.student_log_prob(out).double(), expected, rtol=0, atol=2e-5)
    # the vMF term matters here: plain logits give a different distribution
    assert (F.log_softmax(raw / 0.1, -1) - expected).abs().max() > 0.5
    # teacher (kappa = ||w|| / 0.04 in [12.5, 100]): first target = softmax(z - log(1/P))
    z_t = raw / 0.04 + scipy_log_c(torch.tensor(gains) / 0.04, BOTTLENECK)
    torch.testing.assert_close(head.teacher_target(out).double(), F.softmax(z_t, -1),
                               rtol=0, atol=2e-5)


def test_probability_centering_update_equals_formula():
    head = make_head(use_vmf=True, norm_last_layer=False, teacher_temp=0.05)
    assert head.centering == 'probability'
    set_gains(head, [0.8, 1.0, 1.3, 0.6, 2.0])
    center0 = torch.full((1, P), 1.0 / P)
    torch.testing.assert_close(head.centers['object'].value, center0)
    x1, x2 = torch.randn(6, D), torch.randn(4, D)
    kappa = torch.tensor([0.8, 1.0, 1.3, 0.6, 2.0]) / 0.05
    z1 = hand_written_dino(head, x1, 'object').double() / 0.05 + scipy_log_c(kappa, BOTTLENECK)
    z2 = hand_written_dino(head, x2, 'object').double() / 0.05 + scipy_log_c(kappa, BOTTLENECK)
    t1 = head.teacher_target(head(x1, 'object'), 'object')
    center1 = 0.9 * center0.double() + 0.1 * F.softmax(z1, -1).mean(0, keepdim=True)
    torch.testing.assert_close(head.centers['object'].value.double(), center1, rtol=1e-5, atol=1e-8)
    t2 = head.teacher_target(head(x2, 'object'), 'object')
    # the target uses the center *before* this batch: softmax(z2 - log c1)
    torch.testing.assert_close(t2.double(), F.softmax(z2 - center1.log(), -1), rtol=0, atol=2e-5)
    torch.testing.assert_close(t1.double(), F.softmax(z1, -1), rtol=0, atol=2e-5)
    center2 = 0.9 * center1 + 0.1 * F.softmax(z2, -1).mean(0, keepdim=True)
    torch.testing.assert_close(head.centers['object'].value.double(), center2, rtol=1e-5, atol=1e-8)
    # update_center=False (queue neighbours) leaves it alone; the CLS center never moved
    head.teacher_target(head(x1, 'object'), 'object', update_center=False)
    torch.testing.assert_close(head.centers['object'].value.double(), center2, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(head.centers['cls'].value, center0)


def test_vmf_needs_probability_centering_and_bad_names():
    with pytest.raises(ValueError, match='probability'):
        make_head(use_vmf=True, centering='logit')
    head = make_head(with_object_head=False)
    assert head.object_last_layer is None and list(head.centers) == ['cls']
    with pytest.raises(ValueError, match='with_object_head=False'):
        head(torch.randn(2, D), 'object')
    with pytest.raises(ValueError, match='temperature'):
        head.set_teacher_temp(0.0)


def test_temperature_setters():
    head = make_head(use_vmf=False)
    head.set_teacher_temp(0.07)
    assert head.get_teacher_temp('cls') == head.get_teacher_temp('object') == 0.07
    head.set_teacher_temp(0.05, which='object')
    assert (head.get_teacher_temp('cls'), head.get_teacher_temp('object')) == (0.07, 0.05)
    head.set_student_temp(0.2)
    out = head(torch.randn(2, D))
    torch.testing.assert_close(head.student_log_prob(out), F.log_softmax(out.logits / 0.2, -1))
    torch.testing.assert_close(head.teacher_target(out, update_center=False),
                               F.softmax(out.logits / 0.07, -1))


def test_deepcopy_and_state_dict_round_trip():
    head = make_head(use_vmf=True, norm_last_layer=False)
    head.teacher_target(head(torch.randn(3, D)))  # move the CLS center away from 1/P
    keys = set(head.state_dict())
    assert {'last_layer.parametrizations.weight.original0',
            'last_layer.parametrizations.weight.original1',
            'object_last_layer.parametrizations.weight.original0',
            'centers.cls.value', 'centers.object.value'} <= keys
    teacher = copy.deepcopy(head)  # what an EMA teacher does
    x = torch.randn(4, D)
    torch.testing.assert_close(teacher(x).logits, head(x).logits)
    with torch.no_grad():  # the copy owns its parameters
        head.last_layer.parametrizations.weight.original1.add_(1.0)
    assert not torch.allclose(teacher(x).logits, head(x).logits)
    restored = make_head(use_vmf=True, norm_last_layer=False)
    restored.load_state_dict(head.state_dict())
    torch.testing.assert_close(restored(x).logits, head(x).logits)
    torch.testing.assert_close(restored.centers['cls'].value, head.centers['cls'].value)


def test_mmengine_ema_averages_gain_and_direction():
    from mmengine.model import ExponentialMovingAverage
    head = make_head(norm_last_layer=False)
    ema = ExponentialMovingAverage(head, momentum=0.25)  # avg = 0.75 avg + 0.25 src
    ema.update_parameters(head)  # first step copies
    g0 = head.last_layer.parametrizations.weight.original0.detach().clone()
    with torch.no_grad():
        head.last_layer.parametrizations.weight.original0.fill_(3.0)
    ema.update_parameters(head)
    g_teacher = ema.module.last_layer.parametrizations.weight.original0
    torch.testing.assert_close(g_teacher, 0.75 * g0 + 0.25 * 3.0)


def test_freeze_last_layer_cancels_gradients_before_the_step():
    head = make_head(use_vmf=True, norm_last_layer=False)
    optimizer = torch.optim.AdamW(head.parameters(), lr=0.1, weight_decay=0.5)
    optimizer.register_step_pre_hook(lambda *args: head.cancel_last_layer_grad())
    last_before = [p.detach().clone() for p in head.last_layer_parameters()]
    mlp_before = [p.detach().clone() for p in head.mlp.parameters()]

    def step():
        optimizer.zero_grad()
        out = head(torch.randn(4, D))
        target = torch.softmax(torch.randn(4, P), -1)
        (-(target * head.student_log_prob(out)).sum(-1).mean()).backward()
        optimizer.step()

    head.freeze_last_layer(True)
    step()
    for before, param in zip(last_before, head.last_layer_parameters()):
        assert torch.equal(before, param) and param.grad is None
    assert all(not torch.equal(b, p) for b, p in zip(mlp_before, head.mlp.parameters()))
    head.freeze_last_layer(False)
    step()
    # the CLS last layer (g and v) now moves; the object layer got no loss, hence no gradient
    assert all(not torch.equal(b, p) for b, p in zip(last_before, head.last_layer.parameters()))
    # norm_last_layer=True: g is frozen at 1 for good, v still learns
    dino = make_head(norm_last_layer=True)
    assert not dino.last_layer.parametrizations.weight.original0.requires_grad
    assert dino.last_layer.parametrizations.weight.original1.requires_grad


def test_gain_receives_gradient_through_the_vmf_term():
    head = make_head(use_vmf=True, norm_last_layer=False)
    out = head(torch.randn(2, D))
    head.student_log_prob(out)[:, 0].sum().backward()
    assert head.last_layer.parametrizations.weight.original0.grad.abs().sum() > 0


def test_batch_size_one_and_registry():
    from mmpretrain.registry import MODELS
    import s3pt_mm.models.heads  # noqa: F401  (registers S3PTHead)
    head = MODELS.build(dict(type='S3PTHead', in_channels=D, out_channels=P,
                             hidden_channels=HIDDEN, bottleneck_channels=BOTTLENECK,
                             use_vmf=True, norm_last_layer=False))
    assert isinstance(head, S3PTHead) and head.centering == 'probability'
    out = head(torch.randn(1, D), 'object')
    target = head.teacher_target(out, 'object')
    assert target.shape == (1, P)
    torch.testing.assert_close(target.sum(), torch.tensor(1.0))
    assert torch.isfinite(head.student_log_prob(out, 'object')).all()


def test_vmf_stays_finite_under_large_gain_and_bf16_autocast():
    head = make_head(use_vmf=True, norm_last_layer=False, teacher_temp=0.04)
    set_gains(head, [1e3, 2e3, 1.0, 10.0, 4e3])  # kappa up to 1e5
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = head(torch.randn(3, D))
        log_p, target = head.student_log_prob(out), head.teacher_target(out)
    assert log_p.dtype == torch.float32 and torch.isfinite(log_p).all()
    assert torch.isfinite(target).all() and torch.isfinite(head.centers['cls'].value).all()


def _worker(rank: int, world_size: int, port: int, inputs, out_dir: str) -> None:
    init_gloo_rank(rank, world_size, port)
    try:
        head = make_head(use_vmf=True, norm_last_layer=False)
        shares = [inputs[:5], inputs[5:]]  # uneven split of the global batch
        head.teacher_target(head(shares[rank], 'object'), 'object')
        torch.save(head.centers['object'].value, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def test_probability_center_two_process_gloo_equals_one_process(tmp_path):
    inputs = torch.randn(8, D, generator=torch.Generator().manual_seed(1))
    run_ranks(_worker, inputs, str(tmp_path))
    single = make_head(use_vmf=True, norm_last_layer=False)
    single.teacher_target(single(inputs, 'object'), 'object')
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f'rank{rank}.pt'),
                                   single.centers['object'].value, rtol=1e-6, atol=1e-8)
