"""DINO's multi-view self-distillation loss, used for the CLS and the object tokens."""
from torch import Tensor

from .soft_cross_entropy import soft_cross_entropy, zero_loss_like


def cross_view_loss(teacher_probs: Tensor, student_log_probs: Tensor) -> Tensor:
    """Mean cross-entropy over all (teacher view, other student view) pairs.

    ``L = 1/|pairs| · Σ_{t} Σ_{s ≠ t} 1/N · Σ_n H(P_t[t, n], log P_s[s, n])`` (DINO, Caron et al.
    2021, Eq. 3: the student never predicts the teacher's own view). The teacher views are the
    first ``Vt`` student views (the global crops); student views beyond are local crops.

    Used for (docs/method.md §6):

    - the global loss: rows = the B images' CLS tokens, Vt = Vs = 2 (DINO baseline: Vs = 12
      with 10 local crops), i.e. ``½ (H(t1, s2) + H(t2, s1))`` averaged over the batch;
    - the object loss: rows = the M valid objects (clusters non-empty in both views), Vt = Vs
      = 2, i.e. both directions averaged over the valid clusters.

    Args:
        teacher_probs (Tensor): (Vt, N, P) teacher targets (centred, sharpened softmax).
        student_log_probs (Tensor): (Vs, N, P) student log-probabilities, Vs >= Vt.

    Returns:
        Tensor: () fp32 loss; a graph-connected zero when N = 0.

    Raises:
        ValueError: on mismatching shapes, Vs < Vt or no cross-view pair (Vs = 1).
    """
    if teacher_probs.dim() != 3 or student_log_probs.dim() != 3 or \
            teacher_probs.shape[1:] != student_log_probs.shape[1:]:
        raise ValueError(f'teacher_probs (Vt, N, P) and student_log_probs (Vs, N, P) must share '
                         f'(N, P), got {tuple(teacher_probs.shape)} and '
                         f'{tuple(student_log_probs.shape)}')
    num_teacher, num_student = teacher_probs.shape[0], student_log_probs.shape[0]
    if num_student < num_teacher or num_student < 2:
        raise ValueError(f'need Vs >= Vt and Vs >= 2 for a cross-view pair, got Vt={num_teacher}, '
                         f'Vs={num_student}')
    if teacher_probs.shape[1] == 0:
        return zero_loss_like(student_log_probs)
    total, num_pairs = 0.0, 0
    for t in range(num_teacher):
        for s in range(num_student):
            if s == t:  # same view: skipped, as in DINO
                continue
            total = total + soft_cross_entropy(teacher_probs[t], student_log_probs[s]).mean()
            num_pairs += 1
    return total / num_pairs
