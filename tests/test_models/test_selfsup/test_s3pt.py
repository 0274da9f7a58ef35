"""The S3PT algorithm: loss formula, batch size 1, distributed equality, baselines by config."""
import copy

import pytest
import torch
import torch.distributed as dist
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import s3pt_mm  # noqa: F401
from s3pt_mm.testing import init_gloo_rank, run_ranks

IMG, PATCH = 32, 8
NUM_TOKENS = (IMG // PATCH)**2


def tiny_cfg(**overrides) -> dict:
    cfg = dict(
        type='S3PT',
        backbone=dict(type='mmpretrain.VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                feedforward_channels=64),
                      img_size=IMG, patch_size=PATCH, out_type='raw', drop_path_rate=0.0),
        head=dict(type='S3PTHead', in_channels=32, out_channels=64, hidden_channels=64,
                  bottleneck_channels=16, use_vmf=True, norm_last_layer=False),
        assigner=dict(type='DepthGuidedSinkhornAssigner', num_clusters=4),
        queue=dict(queue_size=8))
    cfg.update(overrides)
    return cfg


def build(cfg: dict, seed: int = 0):
    torch.manual_seed(seed)
    MessageHub.get_current_instance().update_info('max_iters', 100)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def fake_batch(num_images: int, seed: int):
    """Two global views and per-token geometry; image b's data depend only on (seed, b)."""
    views = [[], []]
    samples = []
    for b in range(num_images):
        g = torch.Generator().manual_seed(seed * 1000 + b)
        for v in range(2):
            views[v].append(torch.randn(3, IMG, IMG, generator=g))
        sample = DataSample()
        sample.set_field(torch.rand(2, NUM_TOKENS, 2, generator=g) * 200, 'token_pos')
        sample.set_field(torch.rand(2, NUM_TOKENS, generator=g) * 40 + 1, 'token_depth')
        sample.set_field(torch.rand(2, NUM_TOKENS, generator=g) > 0.2, 'token_depth_valid')
        samples.append(sample)
    return [torch.stack(v) for v in views], samples


def total(losses: dict) -> torch.Tensor:
    return sum(v for k, v in losses.items() if k.startswith('loss'))


def test_global_loss_matches_dino_formula_and_batch_size_one():
    # DINO configuration: vMF off, logit centering, no objects; batch size 1.
    model = build(tiny_cfg(head=dict(type='S3PTHead', in_channels=32, out_channels=64,
                                     hidden_channels=64, bottleneck_channels=16,
                                     with_object_head=False),
                           assigner=None, queue=None))
    inputs, samples = fake_batch(1, seed=3)
    reference = copy.deepcopy(model)
    losses = model.loss(inputs, samples)
    assert set(k for k in losses if k.startswith('loss')) == {'loss_global'}

    # At step 0 the EMA teacher equals the student; center 0; τ_t 0.04, τ_s 0.1.
    with torch.no_grad():
        cls = [reference.backbone(x)[-1][:, 0] for x in inputs]
        logits = [reference.head(c).logits for c in cls]
    teacher = [torch.softmax(z / 0.04, -1) for z in logits]
    student = [torch.log_softmax(z / 0.1, -1) for z in logits]
    expected = 0.5 * (-(teacher[0] * student[1]).sum() - (teacher[1] * student[0]).sum())
    torch.testing.assert_close(losses['loss_global'], expected, rtol=1e-5, atol=1e-5)
    # The center then moved to 0.1 · mean of the teacher logits (DINO order).
    torch.testing.assert_close(model.head.centers['cls'].value,
                               0.1 * torch.cat(logits).mean(0, keepdim=True),
                               rtol=1e-5, atol=1e-6)


def test_full_s3pt_step_batch_size_one_trains_every_part():
    model = build(tiny_cfg())
    model.set_cross_image_enabled(True)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for step in range(3):
        inputs, samples = fake_batch(1, seed=step)
        losses = model.loss(inputs, samples)
        optimizer.zero_grad()
        total(losses).backward()
        optimizer.step()
        assert all(torch.isfinite(v).all() for v in losses.values())
    assert set(k for k in losses if k.startswith('loss')) == {
        'loss_global', 'loss_object', 'loss_cross_image'}
    assert int(model.queue.num_enqueued) == 3
    assert 1 <= float(losses['num_clusters']) <= 4
    # Teacher = EMA of the student: it moved, but is not the student.
    t = model.teacher.module.backbone.cls_token
    assert not torch.equal(t, model.backbone.cls_token)
    assert all(not p.requires_grad for p in model.teacher.parameters())
    assert not model.teacher.module.training


def test_non_finite_loss_is_an_error_naming_the_term():
    model = build(tiny_cfg())
    inputs, samples = fake_batch(2, seed=0)
    inputs[0][0, 0, 0, 0] = float('nan')
    with pytest.raises(FloatingPointError, match='loss_global'):
        model.loss(inputs, samples)


def test_missing_token_geometry_names_sample_and_key():
    model = build(tiny_cfg())
    inputs, samples = fake_batch(2, seed=0)
    del samples[1].token_depth
    with pytest.raises(KeyError, match="data sample 1 .*'token_depth'"):
        model.loss(inputs, samples)


# ---------------------------------------------------------------- distributed equality
STEPS, GLOBAL_BATCH = 3, 4


#: Modes that claim 2-process = 1-process (docs/method.md §5.6): ours, and CrIBo's conventions
#: with the per-image min-max (the batch-wide min-max alone depends on the per-GPU batch).
SPLIT_INDEPENDENT = {
    'own': {},
    'cribo-per-image-minmax': dict(
        cribo_conventions=True,
        assigner=dict(type='DepthGuidedSinkhornAssigner', num_clusters=4, per_image_minmax=True)),
}


def _run(rank: int, world_size: int, port: int, out: dict, mode: str = 'own') -> None:
    torch.set_num_threads(1)
    if world_size > 1:
        init_gloo_rank(rank, world_size, port)
    model = build(tiny_cfg(**SPLIT_INDEPENDENT[mode]))
    model.set_cross_image_enabled(True)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.05)
    per_rank = GLOBAL_BATCH // world_size
    losses_per_step = []
    for step in range(STEPS):
        inputs, samples = fake_batch(GLOBAL_BATCH, seed=step)
        mine = slice(rank * per_rank, (rank + 1) * per_rank)
        losses = model.loss([x[mine] for x in inputs], samples[mine])
        optimizer.zero_grad()
        total(losses).backward()
        values = torch.stack([losses[k].detach() for k in
                              ('loss_global', 'loss_object', 'loss_cross_image')])
        if world_size > 1:  # what DDP does: average gradients (and we average the losses)
            for p in params:
                dist.all_reduce(p.grad)
                p.grad /= world_size
            dist.all_reduce(values)
            values /= world_size
        optimizer.step()
        losses_per_step.append(values)
    if rank == 0:
        out['losses'] = torch.stack(losses_per_step)
        out['state'] = {k: v.clone() for k, v in model.state_dict().items()}
    if world_size > 1:
        dist.destroy_process_group()


def _worker(rank, world_size, port, path, mode):
    out = {}
    _run(rank, world_size, port, out, mode)
    if rank == 0:  # through a file: tensors sent over a queue die with their process
        torch.save(out, path)


@pytest.mark.slow
@pytest.mark.parametrize('mode', list(SPLIT_INDEPENDENT))
def test_two_process_gloo_equals_one_process(tmp_path, mode):
    single = {}
    _run(0, 1, 0, single, mode)

    path = tmp_path / 'rank0.pth'
    run_ranks(_worker, path, mode, nprocs=2, timeout=240)
    double = torch.load(path)

    torch.testing.assert_close(double['losses'], single['losses'], rtol=1e-4, atol=1e-5)
    assert float(single['losses'][1:, 2].min()) > 0, 'the cross-image loss must be active'
    for key in ('head.centers.cls.value', 'head.centers.object.value', 'queue.tokens',
                'queue.valid', 'queue.ptr', 'backbone.cls_token',
                'teacher.module.backbone.layers.1.ffn.layers.1.weight'):
        torch.testing.assert_close(double['state'][key], single['state'][key],
                                   rtol=1e-4, atol=1e-5, msg=key)
