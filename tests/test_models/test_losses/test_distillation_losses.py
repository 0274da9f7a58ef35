"""soft_cross_entropy, cross_view_loss (DINO CLS / object loss) and cross_image_loss."""
import math

import pytest
import torch

from s3pt_mm.models.losses.cross_image_loss import cross_image_loss
from s3pt_mm.models.losses.cross_view_loss import cross_view_loss
from s3pt_mm.models.losses.soft_cross_entropy import soft_cross_entropy


def h(target, probs):
    """H(t, s) = -sum_k t_k log s_k with Python floats (the formula, written out)."""
    return -sum(t * math.log(s) for t, s in zip(target, probs))


def test_soft_cross_entropy_closed_forms():
    uniform = torch.full((2, 8), 1 / 8)
    torch.testing.assert_close(soft_cross_entropy(uniform, uniform.log()),
                               torch.full((2,), math.log(8)))
    one_hot = torch.tensor([[0.0, 1.0, 0.0]])
    student = torch.tensor([[0.2, 0.5, 0.3]])
    torch.testing.assert_close(soft_cross_entropy(one_hot, student.log()),
                               torch.tensor([-math.log(0.5)]))
    with pytest.raises(ValueError, match='same shape'):
        soft_cross_entropy(one_hot, student[:, :2])


# Two views, two images, three prototypes, hand-made distributions.
TEACHER = [[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]],   # view 0: image 0, image 1
           [[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]]]  # view 1
STUDENT = [[[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]],
           [[0.4, 0.4, 0.2], [0.3, 0.5, 0.2]]]


def test_cross_view_loss_two_views_hand_made():
    # 1/2 [ mean_n H(t0_n, s1_n) + mean_n H(t1_n, s0_n) ]
    expected = 0.5 * ((h(TEACHER[0][0], STUDENT[1][0]) + h(TEACHER[0][1], STUDENT[1][1])) / 2 +
                      (h(TEACHER[1][0], STUDENT[0][0]) + h(TEACHER[1][1], STUDENT[0][1])) / 2)
    loss = cross_view_loss(torch.tensor(TEACHER), torch.tensor(STUDENT).log())
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.2462, abs=1e-4)  # the number itself, for the record


def test_cross_view_loss_with_local_crops_counts_pairs():
    # DINO baseline layout: 2 teacher (global) views, 4 student views (2 global + 2 local).
    gen = torch.Generator().manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 3, 5, generator=gen), -1)
    student = torch.log_softmax(torch.randn(4, 3, 5, generator=gen), -1)
    pairs = [(t, s) for t in range(2) for s in range(4) if s != t]
    expected = sum(-(teacher[t] * student[s]).sum(-1).mean() for t, s in pairs) / len(pairs)
    assert len(pairs) == 6
    torch.testing.assert_close(cross_view_loss(teacher, student), expected)


def test_cross_view_loss_no_rows_is_connected_zero():
    student = torch.randn(2, 0, 4, requires_grad=True)
    loss = cross_view_loss(torch.zeros(2, 0, 4), student)
    loss.backward()
    assert loss.item() == 0.0 and student.grad is not None
    with pytest.raises(ValueError, match='cross-view pair'):
        cross_view_loss(torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))


def test_cross_image_loss_masks_and_pairs_views():
    # direction v: target = neighbour of view v, prediction = student of the other view
    neighbours = torch.tensor(TEACHER)
    student = torch.tensor(STUDENT).log()
    consistent = torch.tensor([[True, False], [True, True]])
    expected = (h(TEACHER[0][0], STUDENT[1][0]) + h(TEACHER[1][0], STUDENT[0][0]) +
                h(TEACHER[1][1], STUDENT[0][1])) / 3
    loss = cross_image_loss(neighbours, student, consistent)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_cross_image_loss_without_pairs_is_connected_zero():
    student = torch.log_softmax(torch.randn(2, 3, 4), -1).requires_grad_()
    loss = cross_image_loss(torch.full((2, 3, 4), 0.25), student,
                            torch.zeros(2, 3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(student.grad, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match='consistent must be'):
        cross_image_loss(torch.zeros(2, 3, 4), student, torch.zeros(3, 2, dtype=torch.bool))
