"""CrIBo's clustering, Sinkhorn, loss and neighbour search, re-derived for the parity tests.

Written for this project from reading CrIBo's official code (github.com/tileb1/CrIBo,
``main_cribo.py``: ``Clustering.sinkhorn``, ``Clustering.compute_assignments``, ``CrIBoLoss``,
``get_nn_centroids``) — not copied from it, and not sharing any code with ``s3pt_mm``. It keeps
the reference's way of computing things wherever that matters for the numbers (docs/method.md
§5, §6): dense one-hot assignments, the positional cost of a member at distance 0 counted as
absent, the fill value as the mean over all entries, min-max over the whole batch, Sinkhorn
on the kernel normalised to mass 1 with rows then columns scaled, hard assignment by equality
with the row maximum, zero centroids for empty clusters, the NN loss divided by the first
direction's count. fp32 like the reference; one cluster at a time to bound memory and time.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def positional_cost(distances: Tensor, members: Tensor) -> Tensor:
    """T_pos of CrIBo: (B, n, n) distances, (B, n, k) 0/1 members → (B, n, k) in [0, 1]."""
    batch, n, k = members.shape
    linkage = distances.new_zeros(batch, n, k)
    for b in range(batch):
        for j in range(k):
            member_index = members[b, :, j].nonzero()[:, 0]
            if len(member_index) == 0:
                continue  # no member: 0, filled below
            to_members = distances[b][:, member_index]  # (n, members)
            counted = to_members != 0  # a member at distance 0 does not count
            nearest = torch.where(counted, to_members, torch.full_like(to_members, 1e5))
            linkage[b, :, j] = torch.where(counted.any(1), nearest.amin(1),
                                           torch.zeros(n, dtype=distances.dtype))
    fill = linkage.mean(dim=(1, 2), keepdim=True).expand_as(linkage)
    linkage = torch.where(linkage == 0, fill, linkage)
    return linkage / linkage.amax(dim=(1, 2), keepdim=True)


def sinkhorn(cost: Tensor, row: Tensor, col: Tensor, lam: float, rounds: int) -> Tensor:
    """CrIBo's scaling Sinkhorn: kernel exp(−λ·M) of mass 1, then rows, then columns."""
    plan = torch.exp(-lam * cost).float()
    plan = plan / plan.sum(dim=(1, 2), keepdim=True)
    for _ in range(rounds):
        plan = plan * (row / plan.sum(dim=2, keepdim=True))
        plan = plan * (col / plan.sum(dim=1, keepdim=True))
    return torch.nan_to_num(plan, nan=1e-8)


def cluster(tokens: Tensor, positions: Tensor, seeds: Tensor, k: int, rounds: int,
            alpha_pos: float = 1.0, lam: float = 20.0, n_iter: int = 5,
            update_c: bool = True) -> Tuple[Tensor, List[Dict[str, Tensor]]]:
    """CrIBo's ``compute_assignments`` with given seeds.

    Args:
        tokens (Tensor): (B, n, D) tokens of both views.
        positions (Tensor): (B, n, 2) positions.
        seeds (Tensor): (B, k) seed token indices.
        k (int): clusters. rounds (int): Sinkhorn rounds. The rest: CrIBo's arguments.

    Returns:
        (B, n) hard cluster of every token and, per iteration, a dict with ``positional_cost``,
        ``cost`` (normalised M), ``plan``, ``assignment`` (B, n), ``centroids``,
        ``cluster_marginal``.
    """
    t = F.normalize(tokens.float(), dim=-1)
    batch, n, _ = t.shape
    row = torch.full((batch, n, 1), 1.0 / n)
    col = torch.full((batch, 1, k), 1.0 / k)
    members = F.one_hot(seeds, n).float().transpose(1, 2)  # (B, n, k): the seeds alone
    centroids = torch.einsum('bnd,bnk->bkd', t, members)
    distances = (positions[:, :, None, :] - positions[:, None, :, :]).square().sum(-1).sqrt()
    trace = []
    for _ in range(n_iter):
        similarity = torch.einsum('bnd,bkd->bnk', t, centroids)
        t_pos = positional_cost(distances, members)
        cost = -similarity + alpha_pos * t_pos
        cost = (cost - cost.min()) / (cost.max() - cost.min())  # the whole batch
        plan = sinkhorn(cost, row, col, lam, rounds)
        members = (plan == plan.amax(dim=-1, keepdim=True)).float()
        if update_c:
            col = members.sum(dim=1, keepdim=True) + 1e-2
            col = col / col.sum(dim=-1, keepdim=True)
        centroids = F.normalize(torch.einsum('bnd,bnk->bkd', t, members), dim=-1)
        trace.append(dict(positional_cost=t_pos, cost=cost, plan=plan,
                          assignment=members.argmax(-1), centroids=centroids,
                          cluster_marginal=col[:, 0]))
    return members.argmax(-1), trace


def object_tokens(tokens: Tensor, assignment: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """Per-view mean of the members' tokens and the clusters present in both views.

    Args:
        tokens (Tensor): (B, 2, N, D) un-normalised tokens; assignment (Tensor): (B, 2N).

    Returns:
        ((2, M, D) the valid objects of all images, image-major; (B, k) valid mask).
    """
    batch, views, num, _ = tokens.shape
    one_hot = F.one_hot(assignment.view(batch, views, num), k).float()  # (B, 2, N, k)
    counts = one_hot.sum(2, keepdim=True)
    weights = one_hot / torch.where(counts == 0, torch.ones_like(counts), counts)
    means = torch.einsum('bvnd,bvnk->vbkd', tokens.float(), weights)
    valid = (counts[:, 0, 0] > 0) & (counts[:, 1, 0] > 0)
    return means[:, valid], valid


def nearest_in_queue(objects: Tensor, queue: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """CrIBo's neighbour search (``get_nn_centroids``) with a queue of rows of both views.

    Args:
        objects (Tensor): (2, M, D) current teacher objects of the two views.
        queue (Tensor): (2, E, D) queue rows of the two views (row e: one object).

    Returns:
        (neighbours (2, M, D): direction 1 → queue view 1 rows, direction 2 → queue view 2
        rows; masks (2, M) bool cycle consistency; indices (2, M)).
    """
    cur = F.normalize(objects, dim=-1)
    bank = F.normalize(queue, dim=-1)
    idx1 = (cur[0] @ bank[0].T).topk(1, dim=-1).indices[:, 0]
    idx2 = (cur[1] @ bank[1].T).topk(1, dim=-1).indices[:, 0]
    back1 = (bank[1][idx1] @ cur[1].T).topk(1, dim=-1).indices[:, 0]
    back2 = (bank[0][idx2] @ cur[0].T).topk(1, dim=-1).indices[:, 0]
    arange = torch.arange(objects.shape[1])
    masks = torch.stack([back1 == arange, back2 == arange])
    return torch.stack([queue[0][idx1], queue[1][idx2]]), masks, torch.stack([idx1, idx2])


def losses(student_cls: Tensor, teacher_cls: Tensor, student_obj: Tensor, teacher_obj: Tensor,
           teacher_nn: Tensor, masks: Tensor, center: Tensor, center_c: Tensor,
           teacher_temp: float, teacher_temp_c: float, epoch: int, student_temp: float = 0.1,
           momentum: float = 0.9) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """CrIBoLoss with logit centering: the three losses and the two updated centers.

    Args:
        student_cls, teacher_cls (Tensor): (2B, P) logits, view-major.
        student_obj, teacher_obj (Tensor): (2M, P) object logits, view-major.
        teacher_nn (Tensor): (2, M, P) logits of the neighbours of direction 1 and 2.
        masks (Tensor): (2, M) bool cycle consistency. center, center_c (Tensor): (1, P).

    Returns:
        (dino loss, object loss, NN loss, new center, new center_c).
    """
    def target(logits, c, temp):
        return F.softmax((logits - c) / temp, dim=-1)

    def xent(t, s):
        return -(t * F.log_softmax(s / student_temp, dim=-1)).sum(-1)

    t1, t2 = target(teacher_cls, center, teacher_temp).chunk(2)
    s1, s2 = student_cls.chunk(2)
    dino = (xent(t1, s2).mean() + xent(t2, s1).mean()) / 2
    o1, o2 = target(teacher_obj, center_c, teacher_temp_c).chunk(2)
    so1, so2 = student_obj.chunk(2)
    obj = (xent(o1, so2).mean() + xent(o2, so1).mean()) / 2
    nn1 = target(teacher_nn[0], center_c, teacher_temp_c)
    nn2 = target(teacher_nn[1], center_c, teacher_temp_c)
    nn_loss = torch.zeros(())
    count = masks[0].sum()
    if epoch >= 1 and count > 0:
        nn_loss = (xent(nn1, so2)[masks[0]].sum() / count +
                   xent(nn2, so1)[masks[1]].sum() / count) / 2
    new_center = center * momentum + teacher_cls.mean(0, keepdim=True) * (1 - momentum)
    new_center_c = center_c * momentum + teacher_obj.mean(0, keepdim=True) * (1 - momentum)
    return dino, obj, nn_loss, new_center, new_center_c
