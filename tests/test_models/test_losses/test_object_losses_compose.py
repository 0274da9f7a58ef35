"""The object pieces composed as the S3PT algorithm uses them, against explicit loops."""
import torch

from s3pt_mm.models.heads.s3pt_head import S3PTHead
from s3pt_mm.models.losses.cross_image_loss import cross_image_loss
from s3pt_mm.models.losses.cross_view_loss import cross_view_loss
from s3pt_mm.models.utils.cross_image_queue import CrossImageQueue
from s3pt_mm.models.utils.object_pooling import pool_object_tokens

B, V, N, K, D, P = 2, 2, 6, 3, 6, 5
# image 1: cluster 2 only in view 0 -> invalid; 5 valid objects in all
ASSIGNMENT = torch.tensor([[[0, 0, 1, 1, 2, 2], [2, 1, 0, 0, 1, 2]],
                           [[0, 1, 1, 2, 0, 0], [1, 0, 0, 1, 1, 0]]])


def setup():
    torch.manual_seed(0)
    head = S3PTHead(D, P, hidden_channels=8, bottleneck_channels=4, use_vmf=True,
                    norm_last_layer=False, teacher_temp=0.05)
    teacher_tokens = torch.randn(B, V, N, D)
    student_tokens = torch.randn(B, V, N, D, requires_grad=True)
    return head, teacher_tokens, student_tokens


def project(head, objects, teacher, update_center=True):
    """(V, M, D) object tokens -> (V, M, P) targets / log-probabilities."""
    out = head(objects.flatten(0, 1), 'object')
    if teacher:
        probs = head.teacher_target(out, 'object', update_center=update_center)
    else:
        probs = head.student_log_prob(out, 'object')
    return probs.view(V, -1, P)


def test_object_loss_equals_loop_over_images_and_clusters():
    head, teacher_tokens, student_tokens = setup()
    t_means, valid = pool_object_tokens(teacher_tokens, ASSIGNMENT, K)
    s_means, _ = pool_object_tokens(student_tokens, ASSIGNMENT, K)
    assert valid.sum().item() == 5
    t_obj, s_obj = t_means.transpose(0, 1)[:, valid], s_means.transpose(0, 1)[:, valid]
    loss = cross_view_loss(project(head, t_obj, True, update_center=False),
                           project(head, s_obj, False))

    terms = []
    for b in range(B):
        for j in range(K):
            members = [ASSIGNMENT[b, v] == j for v in range(V)]
            if not all(m.any() for m in members):
                continue
            t = [teacher_tokens[b, v][members[v]].mean(0) for v in range(V)]
            s = [student_tokens[b, v][members[v]].mean(0) for v in range(V)]
            t_probs = [head.teacher_target(head(x[None], 'object'), 'object',
                                           update_center=False)[0] for x in t]
            s_logp = [head.student_log_prob(head(x[None], 'object'), 'object')[0] for x in s]
            terms.append(0.5 * (-(t_probs[0] * s_logp[1]).sum() - (t_probs[1] * s_logp[0]).sum()))
    assert len(terms) == 5
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    loss.backward()
    # the student token of the invalid cluster (image 1, view 0, token 3) gets no gradient
    assert student_tokens.grad[1, 0, 3].abs().sum() == 0
    assert student_tokens.grad[1, 0, 0].abs().sum() > 0


def test_cross_image_loss_equals_object_loss_when_the_queue_holds_the_batch():
    head, teacher_tokens, student_tokens = setup()
    t_means, valid = pool_object_tokens(teacher_tokens, ASSIGNMENT, K)
    s_means, _ = pool_object_tokens(student_tokens, ASSIGNMENT, K)
    t_obj, s_obj = t_means.transpose(0, 1)[:, valid], s_means.transpose(0, 1)[:, valid]
    queue = CrossImageQueue(queue_size=4, num_objects=K, embed_dims=D)
    queue.enqueue(t_means, valid)
    # every object finds itself (cosine 1) and the cycle closes
    match = queue.retrieve(t_obj)
    assert match.consistent.all() and match.consistent_ratio.item() == 1.0
    torch.testing.assert_close(match.neighbours, t_obj)
    student = project(head, s_obj, False)
    object_loss = cross_view_loss(project(head, t_obj, True, False), student)
    nn_loss = cross_image_loss(project(head, match.neighbours, True, False), student,
                               match.consistent)
    torch.testing.assert_close(nn_loss, object_loss, rtol=1e-6, atol=1e-6)
