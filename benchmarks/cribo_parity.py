"""Run CrIBo's official clustering and loss beside ours on identical inputs; print agreement.

Usage (a checkout of github.com/tileb1/CrIBo and the `einops` package are needed; neither is
a dependency of s3pt_mm, and the tests do not use them)::

    python benchmarks/cribo_parity.py --cribo-repo PATH/TO/CrIBo [--seeds 3]

The reference's ``Clustering`` and ``CrIBoLoss`` classes are executed from that checkout's
``main_cribo.py`` (CPU; its random seed tokens replaced by the ones given to ours). Printed per
setting: the share of tokens with the same final cluster, the largest relative difference of
the Sinkhorn plans (the reference returns the plan of the last iteration), and for the loss
the relative differences of the DINO, object and NN losses and of both centers.
(docs/method.md §10)
"""
import argparse
import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from s3pt_mm.models.heads.s3pt_head import S3PTHead
from s3pt_mm.models.losses import cross_image_loss, cross_view_loss
from s3pt_mm.models.utils.spatial_clustering import depth_guided_spatial_clustering


def load_reference(repo: Path) -> dict:
    import einops
    source = (repo / 'main_cribo.py').read_text()
    namespace = dict(torch=torch, np=np, nn=nn, F=F, einops=einops, dist=dist,
                     reduce=einops.reduce, rearrange=einops.rearrange, repeat=einops.repeat)
    for name in ('class Clustering:', 'class CrIBoLoss('):
        start = source.index(name)
        ends = [source.find(m, start + 10) for m in ('\nclass ', '\ndef ', '\nif __name__')]
        code = source[start:min(e for e in ends if e > 0)]
        exec(code.replace("'cuda'", "'cpu'"), namespace)  # CPU run
    return namespace


class Args:
    def __init__(self, **kwargs):
        self.__dict__.update(dict(n_iter=5, update_c=True, gpu='cpu', epochs=10, patch_size=16),
                             **kwargs)


@contextlib.contextmanager
def given_seeds(seeds):
    original = torch.Tensor.multinomial
    torch.Tensor.multinomial = lambda self, num_samples, replacement=False: seeds.clone()
    try:
        yield
    finally:
        torch.Tensor.multinomial = original


def crop_positions(batch, side, g):
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing='ij')
    out = []
    for b in range(batch):
        scale = float(torch.rand(1, generator=g)) * 20 + 10
        offset = torch.rand(2, generator=g) * 300
        v1 = torch.stack([xs * scale + offset[0], ys * scale + offset[1]], -1).reshape(-1, 2)
        v2 = v1.flip(0) if b % 2 == 0 else \
            torch.stack([xs * 16 + offset[0] + 32, ys * 16 + offset[1]], -1).reshape(-1, 2)
        out.append(torch.cat([v1, v2]))
    return torch.stack(out).float()


def clustering(ref, seeds_count):
    print('setting            batch seed  layout   agreement  plan rel. diff')
    worst = 1.0
    for name, k, rounds in (('CrIBo k32/5', 32, 5), ('S3PT-no-depth k128/1', 128, 1)):
        for batch in (2, 4):
            for seed in range(seeds_count):
                for layout in ('crops', 'uniform'):
                    g = torch.Generator().manual_seed(seed)
                    n = 392
                    protos = torch.randn(8, 384, generator=g)
                    tokens = protos[torch.randint(0, 8, (batch, n), generator=g)] + \
                        0.8 * torch.randn(batch, n, 384, generator=g)
                    positions = crop_positions(batch, 14, g) if layout == 'crops' else \
                        torch.rand(batch, n, 2, generator=g) * 600
                    seeds = torch.stack([torch.randperm(n, generator=g)[:k]
                                         for _ in range(batch)])
                    cl = ref['Clustering'](Args(), n_tokens=k, n_heads=1, sinkhorn_lambda=20.0,
                                           sinkhorn_iterations=rounds)
                    with given_seeds(seeds):
                        theirs, _, _ = cl.compute_assignments(tokens, positions, k, 1.0, 20.0,
                                                              rounds, True)
                    trace = []
                    ours = depth_guided_spatial_clustering(
                        tokens, positions, num_clusters=k, sinkhorn_iterations=rounds,
                        alpha_depth=0.0, cribo_conventions=True, seed_indices=seeds,
                        backend='torch', trace=trace)
                    agreement = float((ours.assignment == theirs.argmax(-1)).float().mean())
                    # the reference's plan of the last iteration, recomputed from its own
                    # Sinkhorn on our last normalised cost
                    plan, _ = cl.sinkhorn(trace[-1]['cost'], torch.full((batch, n, 1), 1 / n),
                                          trace[-2]['cluster_marginal'][:, None]
                                          if len(trace) > 1 else torch.full((batch, 1, k), 1 / k),
                                          20.0, rounds)
                    rel = float(((trace[-1]['plan'] - plan).abs() / plan.abs()).max())
                    worst = min(worst, agreement)
                    print(f'{name:20s} {batch:3d} {seed:5d}  {layout:8s} {agreement:9.5f}  '
                          f'{rel:.2e}')
    print(f'lowest agreement: {worst:.5f}')


def losses(ref):
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    head = S3PTHead(16, 64, hidden_channels=32, bottleneck_channels=8, use_vmf=False,
                    centering='logit', teacher_temp=0.05)
    for which in ('cls', 'object'):
        head.centers[which].value.normal_(0, 0.5)
    loss = ref['CrIBoLoss'](64, 64, 2, 0.05, 0.05, 0.05, 0.05, 0, 5)
    loss.center.copy_(head.centers['cls'].value)
    loss.center_c.copy_(head.centers['object'].value)
    cls_t, cls_s = head(torch.randn(8, 16, generator=g)), head(torch.randn(8, 16, generator=g))
    obj_t, obj_s = (head(torch.randn(10, 16, generator=g), 'object') for _ in range(2))
    nn_t = head(torch.randn(10, 16, generator=g), 'object')
    masks = torch.tensor([[1, 0, 1, 1, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    with torch.no_grad():
        # reference: nn (2, M, P) holds both views of each neighbour; only [0] of direction 1
        # and [1] of direction 2 are used
        nn1 = torch.stack([nn_t.logits[:5], nn_t.logits[:5]])
        nn2 = torch.stack([nn_t.logits[5:], nn_t.logits[5:]])
        theirs = loss(cls_s.logits, cls_t.logits, 1, obj_s.logits, obj_t.logits, masks[0], nn1,
                      None, nn2, None, masks[1])
        dino = cross_view_loss(head.teacher_target(cls_t).view(2, 4, -1),
                               head.student_log_prob(cls_s).view(2, 4, -1))
        s_obj = head.student_log_prob(obj_s, 'object').view(2, 5, -1)
        obj = cross_view_loss(head.teacher_target(obj_t, 'object', False).view(2, 5, -1), s_obj)
        nn_loss = cross_image_loss(head.teacher_target(nn_t, 'object', False).view(2, 5, -1),
                                   s_obj, masks, normalization='first_direction')
        head.update_center(obj_t, 'object')
    for name, a, b in (('DINO loss', dino, theirs[0]), ('object loss', obj, theirs[1]),
                       ('NN loss', nn_loss, theirs[2]),
                       ('CLS center', head.centers['cls'].value, loss.center),
                       ('object center', head.centers['object'].value, loss.center_c)):
        rel = float(((a - b).abs() / b.abs().clamp_min(1e-12)).max())
        print(f'{name:14s} relative difference {rel:.2e}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cribo-repo', type=Path, required=True)
    parser.add_argument('--seeds', type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method='tcp://127.0.0.1:29591', rank=0, world_size=1)
    ref = load_reference(args.cribo_repo)
    clustering(ref, args.seeds)
    losses(ref)
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
