"""Our losses, centers and queue neighbours against CrIBo's ``CrIBoLoss`` and
``get_nn_centroids`` re-derived in ``cribo_reference`` (docs/method.md §6, §10)."""
import importlib.util
from pathlib import Path

import torch
from mmengine.logging import MessageHub
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import s3pt_mm  # noqa: F401
from s3pt_mm.models.heads.s3pt_head import S3PTHead
from s3pt_mm.models.losses import cross_image_loss, cross_view_loss
from s3pt_mm.models.utils.cross_image_queue import CrossImageQueue

REL_TOL = 1e-5


def _load_reference():
    path = Path(__file__).with_name('cribo_reference.py')
    spec = importlib.util.spec_from_file_location('s3pt_mm_tests_cribo_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cribo = _load_reference()


def filled_queue(generator, queue_size=6, k=5, dim=16):
    """Our queue after three steps of 2 images, and the same rows in CrIBo's layout."""
    queue = CrossImageQueue(queue_size, k, dim, search='exact')
    rows = [[], []]
    for _ in range(3):
        objects = torch.randn(2, 2, k, dim, generator=generator)
        valid = torch.rand(2, k, generator=generator) > 0.3
        queue.enqueue(objects, valid)
        for b in range(2):
            for view in range(2):
                rows[view].append(objects[b, view][valid[b]])
    return queue, torch.stack([torch.cat(rows[0]), torch.cat(rows[1])])


def test_neighbours_and_cycle_masks_identical_to_cribo():
    g = torch.Generator().manual_seed(0)
    queue, bank = filled_queue(g)
    # current objects: perturbed queue rows (so that cycles close for some) and random ones
    current = torch.cat([bank[:, :6] + 0.05 * torch.randn(2, 6, 16, generator=g),
                         torch.randn(2, 4, 16, generator=g)], dim=1)
    match = queue.retrieve(current)
    neighbours, masks, _ = cribo.nearest_in_queue(current, bank)
    assert torch.equal(match.neighbours, neighbours)
    assert torch.equal(match.consistent, masks)
    assert masks.any() and not masks.all()


def test_losses_and_center_updates_match_cribo():
    """CrIBo's head (no vMF, logit centering): DINO, object and NN losses to 1e-5 relative, the
    NN loss divided by the first direction's count, both centers updated after all targets."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    head = S3PTHead(16, 64, hidden_channels=32, bottleneck_channels=8, use_vmf=False,
                    centering='logit', teacher_temp=0.05)
    head.centers['cls'].value.normal_(0, 0.5)
    head.centers['object'].value.normal_(0, 0.5)
    center, center_c = (head.centers[w].value.clone() for w in ('cls', 'object'))
    cls_t, cls_s = head(torch.randn(8, 16, generator=g)), head(torch.randn(8, 16, generator=g))
    obj_t, obj_s = head(torch.randn(10, 16, generator=g), 'object'), \
        head(torch.randn(10, 16, generator=g), 'object')
    nn_t = head(torch.randn(10, 16, generator=g), 'object')
    masks = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)  # 3 vs 5 pairs

    # ours, in the model's order (docs/method.md §6.3)
    dino = cross_view_loss(head.teacher_target(cls_t, 'cls').view(2, 4, -1),
                           head.student_log_prob(cls_s, 'cls').view(2, 4, -1))
    student_obj = head.student_log_prob(obj_s, 'object').view(2, 5, -1)
    obj = cross_view_loss(head.teacher_target(obj_t, 'object', update_center=False).view(2, 5, -1),
                          student_obj)
    nn_loss = cross_image_loss(
        head.teacher_target(nn_t, 'object', update_center=False).view(2, 5, -1), student_obj,
        masks, normalization='first_direction')
    head.update_center(obj_t, 'object')

    ref = cribo.losses(cls_s.logits, cls_t.logits, obj_s.logits, obj_t.logits,
                       nn_t.logits.view(2, 5, -1), masks, center, center_c, 0.05, 0.05, epoch=1)
    for name, mine, theirs in zip(('dino', 'object', 'nn'), (dino, obj, nn_loss), ref[:3]):
        torch.testing.assert_close(mine, theirs, rtol=REL_TOL, atol=0, msg=name)
    torch.testing.assert_close(head.centers['cls'].value, ref[3], rtol=REL_TOL, atol=1e-7)
    torch.testing.assert_close(head.centers['object'].value, ref[4], rtol=REL_TOL, atol=1e-7)
    # ours pooled differs when the directions keep different counts
    pooled = cross_image_loss(head.teacher_target(nn_t, 'object', update_center=False).view(
        2, 5, -1), student_obj, masks)
    assert not torch.allclose(pooled, nn_loss)


def test_nn_loss_is_zero_without_first_direction_pairs_as_cribo():
    probs = torch.softmax(torch.randn(2, 3, 7), -1)
    logp = torch.log_softmax(torch.randn(2, 3, 7), -1)
    masks = torch.tensor([[0, 0, 0], [1, 1, 0]], dtype=torch.bool)
    assert cross_image_loss(probs, logp, masks, normalization='first_direction') == 0
    assert cross_image_loss(probs, logp, masks) > 0


def test_model_centres_neighbours_with_the_center_before_the_update(monkeypatch):
    """Cause 3 of the issue: in a step of the S3PT model every object target, the queue
    neighbours' included, uses the object center from before this step."""
    MessageHub.get_current_instance().update_info('max_iters', 10)
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='mmpretrain.S3PT', cribo_conventions=True,
        backbone=dict(type='mmpretrain.VisionTransformer',
                      arch=dict(embed_dims=32, num_layers=1, num_heads=2,
                                feedforward_channels=64),
                      img_size=32, patch_size=8, out_type='raw', drop_path_rate=0.0),
        head=dict(type='S3PTHead', in_channels=32, out_channels=64, hidden_channels=64,
                  bottleneck_channels=16, use_vmf=False, centering='logit'),
        assigner=dict(type='DepthGuidedSinkhornAssigner', num_clusters=4, alpha_depth=0.0,
                      sinkhorn_iterations=5),
        queue=dict(queue_size=8)))
    model.set_cross_image_enabled(True)
    assert model.assigner.cribo_conventions and model.nn_loss_normalization == 'first_direction'

    def batch(seed):
        g = torch.Generator().manual_seed(seed)
        samples = []
        for _ in range(2):
            sample = DataSample()
            sample.set_field(torch.rand(2, 16, 2, generator=g) * 200, 'token_pos')
            samples.append(sample)
        return [torch.randn(2, 3, 32, 32, generator=g) for _ in range(2)], samples

    model.loss(*batch(0))  # fills the queue
    seen = []
    original = model.head.teacher_target

    def spy(out, which='cls', update_center=True):
        if which == 'object':
            seen.append(model.head.centers['object'].value.clone())
        return original(out, which, update_center)

    monkeypatch.setattr(model.head, 'teacher_target', spy)
    before = model.head.centers['object'].value.clone()
    losses = model.loss(*batch(1))
    assert len(seen) == 2 and losses['loss_cross_image'] > 0
    for center in seen:
        assert torch.equal(center, before)
    assert not torch.equal(model.head.centers['object'].value, before)  # updated once, after
