"""Parity of PETRHead with the official PETR head (mmdetection3d ``projects/PETR``).

The official code is not importable here (the mmdet3d wheel ships no ``projects/``), so this
file re-derives the official head's computation independently, in plain torch, from its
description in docs/detection3d.md ("Parity with the official PETR"), on an official-layout
state dict (names and shapes as the official checkpoint has them: ``transformer.decoder.
layers.i.attentions.0/1``, ``ffns.0``, ``adapt_pos3d``, ``position_encoder``, one class /
regression branch listed under all six layer indices, ``code_weights``):

* position embedding: rays through the cell corners ``(16 j, 16 i)`` at 64 -> D LID depths,
  lifted with ``inv(lidar2img)`` in float32, normalised, inverse-sigmoid, channel
  ``3 d + axis``, 1x1-conv MLP; plus the mask-cumsum sine encoding ``[view | row | col]``;
* queries: sine embedding concatenated ``[y | x | z]``;
* a post-norm DETR decoder with a key padding mask, ``nan_to_num``;
* boxes coded ``(x, y, log l, log w, z, log h, sin r, cos r, vx, vy)``, ``r = -yaw - pi/2``;
* Hungarian matching on focal + L1 costs, focal + L1 losses, top-k decoding.

The converter (s3pt_mm/det3d/official_petr.py) maps the weights; then positions, per-layer
logits and codes, decoded boxes and losses must agree within 1e-4.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet3d.structures import LiDARInstance3DBoxes
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment

E, HEADS, FF, Q, L, K, D, C = 32, 4, 64, 20, 6, 10, 8, 24
B, N, FH, FW = 2, 3, 4, 6
PAD_HW = (16 * FH, 16 * FW)
POS_RANGE = (-61.2, -61.2, -10.0, 61.2, 61.2, 10.0)
PC_RANGE = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
HEAD = 'pts_bbox_head.'


# ----------------------------------------------------------------- official-layout weights
def official_state_dict(seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def lin(out_c, in_c, conv=False):
        w = torch.randn(out_c, in_c, generator=g) / math.sqrt(in_c)
        return (w[..., None, None] if conv else w), 0.1 * torch.randn(out_c, generator=g)

    def ln():
        return 1 + 0.1 * torch.randn(E, generator=g), 0.1 * torch.randn(E, generator=g)

    sd = {}

    def put(name, pair):
        sd[name + '.weight'], sd[name + '.bias'] = pair

    put('input_proj', lin(E, C, conv=True))
    cls = {}
    for i, shape in ((0, (E, E)), (3, (E, E)), (6, (K, E))):
        cls[f'{i}.weight'], cls[f'{i}.bias'] = lin(*shape)
    for i in (1, 4):
        cls[f'{i}.weight'], cls[f'{i}.bias'] = ln()
    reg = {}
    for i, shape in ((0, (E, E)), (2, (E, E)), (4, (10, E))):
        reg[f'{i}.weight'], reg[f'{i}.bias'] = lin(*shape)
    for layer in range(L):  # one shared branch, listed under every layer index
        sd.update({f'cls_branches.{layer}.{k}': v for k, v in cls.items()})
        sd.update({f'reg_branches.{layer}.{k}': v for k, v in reg.items()})
    put('adapt_pos3d.0', lin(4 * E, 3 * E // 2, conv=True))
    put('adapt_pos3d.2', lin(E, 4 * E, conv=True))
    put('position_encoder.0', lin(4 * E, 3 * D, conv=True))
    put('position_encoder.2', lin(E, 4 * E, conv=True))
    sd['reference_points.weight'] = torch.rand(Q, 3, generator=g)
    put('query_embedding.0', lin(E, 3 * E // 2))
    put('query_embedding.2', lin(E, E))
    for layer in range(L):
        p = f'transformer.decoder.layers.{layer}.'
        for a in (0, 1):
            w, b = lin(3 * E, E)
            sd[p + f'attentions.{a}.attn.in_proj_weight'] = w
            sd[p + f'attentions.{a}.attn.in_proj_bias'] = b
            put(p + f'attentions.{a}.attn.out_proj', lin(E, E))
        put(p + 'ffns.0.layers.0.0', lin(FF, E))
        put(p + 'ffns.0.layers.1', lin(E, FF))
        for n in range(3):
            put(p + f'norms.{n}', ln())
    put('transformer.decoder.post_norm', ln())
    sd['code_weights'] = torch.tensor([1.0] * 8 + [0.2, 0.2])
    return {HEAD + k: v for k, v in sd.items()}


# ------------------------------------------------------- re-derivation of the official head
def inv_sigmoid(x, eps=1e-5):
    x = x.clamp(0, 1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def conv1x1(x, w, b):
    return torch.einsum('oc,mchw->mohw', w[:, :, 0, 0], x) + b[None, :, None, None]


def mlp2(x, sd, prefix, conv=False):
    f = conv1x1 if conv else (lambda t, w, b: t @ w.T + b)
    h = torch.relu(f(x, sd[prefix + '0.weight'], sd[prefix + '0.bias']))
    return f(h, sd[prefix + '2.weight'], sd[prefix + '2.bias'])


def sine(a, num_feats):
    """a: (...,) already scaled by 2 pi; -> (..., num_feats) [sin f0, cos f0, sin f1, ...]."""
    k = torch.arange(num_feats, dtype=torch.float32)
    dim_t = 10000 ** (2 * torch.div(k, 2, rounding_mode='floor') / num_feats)
    p = a[..., None] / dim_t
    return torch.stack((p[..., 0::2].sin(), p[..., 1::2].cos()), dim=-1).flatten(-2)


def official_masks(metas):
    """Cell (i, j) is padding iff pixel (floor(i pad_h / H), floor(j pad_w / W)) is."""
    m = torch.zeros(B, N, FH, FW, dtype=torch.bool)
    for b in range(B):
        for n in range(N):
            h, w = metas[b]['img_shape'][n][:2]
            for i in range(FH):
                for j in range(FW):
                    m[b, n, i, j] = (i * PAD_HW[0]) // FH >= h or (j * PAD_HW[1]) // FW >= w
    return m


def official_position(sd, lidar2img, masks):
    """(B, N, E, H, W) position embedding of the official head."""
    ch = torch.arange(FH).float() * PAD_HW[0] / FH
    cw = torch.arange(FW).float() * PAD_HW[1] / FW
    idx = torch.arange(D).float()
    depth = 1.0 + (POS_RANGE[3] - 1.0) / (D * (1 + D)) * idx * (idx + 1)
    u, v, d = torch.meshgrid(cw, ch, depth, indexing='ij')  # (W, H, D)
    dd = d.clamp(min=1e-5)
    pts = torch.stack([u * dd, v * dd, d, torch.ones_like(d)], dim=-1)
    img2lidar = torch.from_numpy(np.linalg.inv(lidar2img)).float()
    xyz = torch.einsum('bnij,whdj->bnwhdi', img2lidar, pts)[..., :3]
    lo, hi = torch.tensor(POS_RANGE[:3]), torch.tensor(POS_RANGE[3:])
    xyz = (xyz - lo) / (hi - lo)
    feat = inv_sigmoid(xyz.permute(0, 1, 4, 5, 3, 2).reshape(B * N, D * 3, FH, FW))
    pe = mlp2(feat, sd, HEAD + 'position_encoder.', conv=True)
    valid = (~masks).float()
    cum = [valid.cumsum(dim) for dim in (1, 2, 3)]
    n_e = cum[0] / (cum[0][:, -1:] + 1e-6) * 2 * math.pi
    y_e = cum[1] / (cum[1][:, :, -1:] + 1e-6) * 2 * math.pi
    x_e = cum[2] / (cum[2][..., -1:] + 1e-6) * 2 * math.pi
    enc = torch.cat([sine(n_e, E // 2), sine(y_e, E // 2), sine(x_e, E // 2)], dim=-1)
    enc = enc.permute(0, 1, 4, 2, 3).flatten(0, 1)
    pe = pe + mlp2(enc, sd, HEAD + 'adapt_pos3d.', conv=True)
    return pe.view(B, N, E, FH, FW)


def attention(q_in, k_in, v_in, sd, prefix, key_mask=None):
    w, b = sd[prefix + 'in_proj_weight'], sd[prefix + 'in_proj_bias']
    q, k, v = (x @ w[i * E:(i + 1) * E].T + b[i * E:(i + 1) * E]
               for i, x in enumerate((q_in, k_in, v_in)))
    dh = E // HEADS

    def split(t):
        return t.view(t.shape[0], t.shape[1], HEADS, dh).transpose(1, 2)

    att = split(q) @ split(k).transpose(-1, -2) / math.sqrt(dh)
    if key_mask is not None:
        att = att.masked_fill(key_mask[:, None, None, :], float('-inf'))
    out = (att.softmax(-1) @ split(v)).transpose(1, 2).reshape(q.shape)
    return out @ sd[prefix + 'out_proj.weight'].T + sd[prefix + 'out_proj.bias']


def official_forward(sd, feats, lidar2img, metas):
    """-> position (B, N, E, H, W), logits (L, B, Q, K), codes (L, B, Q, 10)."""
    masks = official_masks(metas)
    pos = official_position(sd, lidar2img, masks)
    x = conv1x1(feats.flatten(0, 1), sd[HEAD + 'input_proj.weight'], sd[HEAD + 'input_proj.bias'])
    memory = x.view(B, N, E, FH, FW).permute(0, 1, 3, 4, 2).reshape(B, -1, E)
    key_pos = pos.permute(0, 1, 3, 4, 2).reshape(B, -1, E)
    key_mask = masks.view(B, -1)
    ref = sd[HEAD + 'reference_points.weight']
    a = ref * 2 * math.pi
    qpos = mlp2(torch.cat([sine(a[:, 1], E // 2), sine(a[:, 0], E // 2), sine(a[:, 2], E // 2)],
                          dim=-1), sd, HEAD + 'query_embedding.')
    qpos = qpos.expand(B, -1, -1)

    def ln(t, prefix):
        return F.layer_norm(t, (E, ), sd[prefix + 'weight'], sd[prefix + 'bias'], eps=1e-5)

    q = torch.zeros(B, Q, E)
    outs = []
    for layer in range(L):
        p = HEAD + f'transformer.decoder.layers.{layer}.'
        q = ln(q + attention(q + qpos, q + qpos, q, sd, p + 'attentions.0.attn.'), p + 'norms.0.')
        q = ln(q + attention(q + qpos, memory + key_pos, memory, sd, p + 'attentions.1.attn.',
                             key_mask), p + 'norms.1.')
        hid = torch.relu(q @ sd[p + 'ffns.0.layers.0.0.weight'].T
                         + sd[p + 'ffns.0.layers.0.0.bias'])
        q = ln(q + hid @ sd[p + 'ffns.0.layers.1.weight'].T + sd[p + 'ffns.0.layers.1.bias'],
               p + 'norms.2.')
        outs.append(ln(q, HEAD + 'transformer.decoder.post_norm.'))
    outs = torch.nan_to_num(torch.stack(outs))
    logits, codes = [], []
    ref_logit = inv_sigmoid(ref)
    for layer in range(L):
        h = outs[layer]
        c = HEAD + f'cls_branches.{layer}.'
        for i in (0, 3):
            h = torch.relu(F.layer_norm(h @ sd[c + f'{i}.weight'].T + sd[c + f'{i}.bias'], (E, ),
                                        sd[c + f'{i + 1}.weight'], sd[c + f'{i + 1}.bias']))
        logits.append(h @ sd[c + '6.weight'].T + sd[c + '6.bias'])
        r = HEAD + f'reg_branches.{layer}.'
        h = outs[layer]
        for i in (0, 2):
            h = torch.relu(h @ sd[r + f'{i}.weight'].T + sd[r + f'{i}.bias'])
        t = (h @ sd[r + '4.weight'].T + sd[r + '4.bias']).clone()
        t[..., 0:2] = (t[..., 0:2] + ref_logit[:, 0:2]).sigmoid()
        t[..., 4:5] = (t[..., 4:5] + ref_logit[:, 2:3]).sigmoid()
        t[..., 0] = t[..., 0] * (PC_RANGE[3] - PC_RANGE[0]) + PC_RANGE[0]
        t[..., 1] = t[..., 1] * (PC_RANGE[4] - PC_RANGE[1]) + PC_RANGE[1]
        t[..., 4] = t[..., 4] * (PC_RANGE[5] - PC_RANGE[2]) + PC_RANGE[2]
        codes.append(t)
    return pos, torch.stack(logits), torch.stack(codes)


def wrap(a):
    return a - torch.floor(a / (2 * math.pi) + 0.5) * 2 * math.pi


def official_normalize(boxes):
    """(G, 9) gravity-centre 1.x boxes -> official codes."""
    x, y, z, l, w, h, yaw, vx, vy = boxes.unbind(-1)
    r = wrap(-yaw - math.pi / 2)
    return torch.stack([x, y, l.log(), w.log(), z, h.log(), r.sin(), r.cos(), vx, vy], dim=-1)


def official_losses(logits, codes, gt_boxes, gt_labels, code_weights):
    alpha, gamma = 0.25, 2.0
    losses = {}
    for layer in range(L):
        labels_all, targets_all, weights_all = [], [], []
        for b in range(B):
            s, c = logits[layer, b], codes[layer, b]
            ngt = official_normalize(gt_boxes[b])
            p = s.sigmoid()
            neg = -(1 - p + 1e-12).log() * (1 - alpha) * p.pow(gamma)
            pos = -(p + 1e-12).log() * alpha * (1 - p).pow(gamma)
            cost = (pos - neg)[:, gt_labels[b]] * 2.0
            cost = cost + torch.cdist(c[:, :8], ngt[:, :8], p=1) * 0.25
            rows, cols = linear_sum_assignment(cost.numpy())
            lab = torch.full((Q, ), K, dtype=torch.long)
            lab[rows] = gt_labels[b][cols]
            tgt = torch.zeros(Q, 10)
            tgt[rows] = ngt[cols]
            wt = torch.zeros(Q, 10)
            wt[rows] = 1.0
            labels_all.append(lab)
            targets_all.append(tgt)
            weights_all.append(wt)
        lab, tgt, wt = torch.cat(labels_all), torch.cat(targets_all), torch.cat(weights_all)
        num_pos = max(float((lab < K).sum()), 1.0)
        x = logits[layer].flatten(0, 1)
        t = F.one_hot(lab, K + 1)[:, :K].float()
        p = x.sigmoid()
        pt = (1 - p) * t + p * (1 - t)
        fw = (alpha * t + (1 - alpha) * (1 - t)) * pt.pow(gamma)
        loss_cls = (F.binary_cross_entropy_with_logits(x, t, reduction='none') * fw).sum()
        loss_cls = 2.0 * loss_cls / num_pos
        keep = torch.isfinite(tgt).all(-1)
        diff = (codes[layer].flatten(0, 1) - tgt).abs() * wt * code_weights
        loss_bbox = 0.25 * diff[keep].sum() / num_pos
        prefix = '' if layer == L - 1 else f'd{layer}.'
        losses[prefix + 'loss_cls'] = loss_cls
        losses[prefix + 'loss_bbox'] = loss_bbox
    return losses


def official_decode(logits, codes, max_num=50):
    out = []
    for b in range(B):
        scores, index = logits[-1, b].sigmoid().flatten().topk(max_num)
        labels = index % K
        c = codes[-1, b][torch.div(index, K, rounding_mode='floor')]
        yaw = wrap(-torch.atan2(c[:, 6], c[:, 7]) - math.pi / 2)
        boxes = torch.stack([c[:, 0], c[:, 1], c[:, 4], c[:, 2].exp(), c[:, 3].exp(),
                             c[:, 5].exp(), yaw, c[:, 8], c[:, 9]], dim=-1)
        rng = torch.tensor(POS_RANGE)
        keep = (boxes[:, :3] >= rng[:3]).all(1) & (boxes[:, :3] <= rng[3:]).all(1)
        boxes = boxes[keep].clone()
        boxes[:, 2] -= boxes[:, 5] * 0.5  # bottom centre
        out.append((boxes, scores[keep], labels[keep]))
    return out


# ------------------------------------------------------------------------------- inputs
def cameras():
    """(B, N, 4, 4) lidar2img of N cameras around the car (60 px focal length)."""
    mats = np.zeros((B, N, 4, 4))
    axes = np.array([[0, -1, 0], [0, 0, -1], [1, 0, 0]], dtype=np.float64)  # lidar -> cam
    for b in range(B):
        for n in range(N):
            yaw = 2 * math.pi * n / N + 0.1 * b
            c, s = math.cos(yaw), math.sin(yaw)
            rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
            lidar2cam = np.eye(4)
            lidar2cam[:3, :3] = axes @ rz.T
            lidar2cam[:3, 3] = lidar2cam[:3, :3] @ -np.array([1.0 + b, 0.2 * n, 1.6])
            k = np.eye(4)
            k[0, 0] = k[1, 1] = 60.0
            k[0, 2], k[1, 2] = PAD_HW[1] / 2, PAD_HW[0] / 2
            mats[b, n] = k @ lidar2cam
    return mats


def ground_truth():
    boxes = [torch.tensor([[5.0, 2.0, -1.0, 4.2, 1.9, 1.6, 0.3, 1.0, -0.5],
                           [-12.0, 7.0, -1.2, 10.5, 2.9, 3.4, -2.8, 2.0, 0.5],
                           [20.0, -3.0, -0.8, 0.4, 0.4, 1.0, 3.0, 0.0, 0.0]]),
             torch.tensor([[30.0, 10.0, -1.5, 4.5, 2.0, 1.7, 1.4, 3.0, 0.1],
                           [-3.0, -25.0, -0.5, 0.8, 0.7, 1.8, -0.9, 0.2, 0.3]])]
    labels = [torch.tensor([0, 3, 8]), torch.tensor([0, 9])]
    return [LiDARInstance3DBoxes(bx, box_dim=9) for bx in boxes], labels


@pytest.fixture(scope='module')
def parity_setup(det3d):
    from mmdet3d.registry import MODELS

    from s3pt_mm.det3d.official_petr import official_to_s3pt
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='PETRHead', num_classes=K, in_channels=C, embed_dims=E, num_queries=Q,
        num_layers=L, num_heads=HEADS, feedforward_channels=FF, dropout=0.0, pc_range=PC_RANGE,
        position_embedding=dict(type='PositionEmbedding3D', depth_num=D,
                                position_range=POS_RANGE),
        bbox_coder=dict(type='NMSFreeBBoxCoder', max_num=50, post_center_range=POS_RANGE)))
    head.eval()
    official = official_state_dict()
    target = {HEAD + k: v for k, v in head.state_dict().items()}
    conv = official_to_s3pt(official, target)
    head.load_state_dict({k[len(HEAD):]: v for k, v in conv.state_dict.items()}, strict=True)
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(B, N, C, FH, FW, generator=g)
    lidar2img = cameras()
    # View 2 of sample 1 is padded: its image is 40 x 80 of the 64 x 96 input.
    metas = [dict(lidar2img=list(lidar2img[b]), pad_shape=PAD_HW,
                  img_shape=[PAD_HW] * (N - 1) + [(40, 80) if b == 1 else PAD_HW])
             for b in range(B)]
    return head, official, conv, feats, lidar2img, metas


def test_converter_reports_no_missing_or_unexpected_head_keys(parity_setup):
    _, official, conv, *_ = parity_setup
    missing, unexpected = conv.head_report()
    assert missing == [] and unexpected == []
    assert list(conv.dropped) == [HEAD + 'code_weights']
    assert len(conv.state_dict) == len(official) - 1


def test_position_embedding_logits_codes_boxes_and_losses_match(parity_setup, single_thread):
    from s3pt_mm.det3d.official_petr import _swap_yaw_rows
    head, official, _, feats, lidar2img, metas = parity_setup
    with torch.no_grad():
        pos_ref, logits_ref, codes_ref = official_forward(official, feats, lidar2img, metas)
        masks = head._padding_mask(metas, N, PAD_HW, (FH, FW), feats.device)
        assert masks is not None and torch.equal(masks, official_masks(metas))
        pos = head.position_embedding((FH, FW), PAD_HW, torch.from_numpy(lidar2img),
                                      padding_mask=masks)
        logits, codes = head(feats, metas)
    torch.testing.assert_close(pos, pos_ref, atol=1e-4, rtol=0)
    assert logits.shape == (L, B, Q, K) and codes.shape == (L, B, Q, 10)
    torch.testing.assert_close(logits, logits_ref, atol=1e-4, rtol=0)
    # Ours codes (sin yaw, cos yaw) = official (-cos r, -sin r).
    ours_as_official = _swap_yaw_rows(codes.movedim(-1, 0)).movedim(0, -1)
    torch.testing.assert_close(ours_as_official, codes_ref, atol=1e-4, rtol=0)

    # Decoded boxes (bottom centre, yaw wrapped), scores and labels.
    dets = head.predict_by_feat(logits, codes, metas)
    for ours, (boxes, scores, labels) in zip(dets, official_decode(logits_ref, codes_ref)):
        assert torch.equal(ours.labels_3d, labels)
        torch.testing.assert_close(ours.scores_3d, scores, atol=1e-4, rtol=0)
        t = ours.bboxes_3d.tensor
        torch.testing.assert_close(t[:, [0, 1, 2, 3, 4, 5, 7, 8]],
                                   boxes[:, [0, 1, 2, 3, 4, 5, 7, 8]], atol=1e-4, rtol=1e-5)
        assert float(wrap(t[:, 6] - boxes[:, 6]).abs().max()) < 1e-4

    # Losses: with ground truth known in every entry, and with an unknown velocity (NaN), which
    # drops the box from the official regression loss (nonfinite_targets='row').
    gt_boxes, gt_labels = ground_truth()
    for nan_velocity in (False, True):
        if nan_velocity:
            gt_boxes[0].tensor[1, 7:9] = float('nan')
        gts = [InstanceData(bboxes_3d=bx, labels_3d=lb) for bx, lb in zip(gt_boxes, gt_labels)]
        centres = [torch.cat([bx.gravity_center, bx.tensor[:, 3:]], dim=1) for bx in gt_boxes]
        ref = official_losses(logits_ref, codes_ref, centres, gt_labels,
                              official[HEAD + 'code_weights'])
        with torch.no_grad():
            ours = head.loss_by_feat(logits, codes, gts)
        assert set(ours) == set(ref) and len(ref) == 2 * L
        for key in ref:
            assert float(ours[key]) == pytest.approx(float(ref[key]), abs=1e-4), key


def test_padding_changes_only_the_padded_sample(parity_setup, single_thread):
    """The key padding mask is active: without it, the padded sample's outputs change."""
    head, _, _, feats, _, metas = parity_setup
    unpadded = [dict(m, img_shape=[PAD_HW] * N) for m in metas]
    with torch.no_grad():
        logits, _ = head(feats, metas)
        logits_np, _ = head(feats, unpadded)
    torch.testing.assert_close(logits[:, 0], logits_np[:, 0])
    assert float((logits[:, 1] - logits_np[:, 1]).abs().max()) > 1e-3


def test_round_trip_of_the_official_layout():
    from s3pt_mm.det3d.official_petr import official_to_s3pt, s3pt_to_official
    official = official_state_dict(seed=3)
    back = s3pt_to_official(official_to_s3pt(official).state_dict)
    assert set(back) == set(official)
    for key, value in official.items():
        assert torch.equal(back[key], value), key
    # The query columns really move: [y | x | z] -> [z | y | x].
    conv = official_to_s3pt(official).state_dict
    w_off = official[HEAD + 'query_embedding.0.weight']
    w_ours = conv[HEAD + 'query_embedding.0.weight']
    f = E // 2
    assert torch.equal(w_ours[:, :f], w_off[:, 2 * f:])
    assert torch.equal(w_ours[:, f:2 * f], w_off[:, :f])


def test_legacy_names_of_original_checkpoints_convert():
    from s3pt_mm.det3d.official_petr import official_to_s3pt
    official = official_state_dict(seed=4)
    legacy = {}
    for key, value in official.items():
        key = key.replace('.attentions.0.', '.self_attn.').replace('.attentions.1.',
                                                                   '.multihead_attn.')
        legacy[key.replace('.decoder.post_norm.', '.decoder.norm.')] = value
    a = official_to_s3pt(official).state_dict
    b = official_to_s3pt(legacy).state_dict
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_command_line_checks_keys_against_a_config(det3d, tiny_petr_cfg, tmp_path):
    import importlib.util
    from pathlib import Path

    from mmengine.config import Config
    repo = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location(
        'petr_official_to_s3pt', repo / 'tools/model_converters/petr_official_to_s3pt.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cfg = tiny_petr_cfg(num_queries=Q, num_layers=L)
    cfg['pts_bbox_head'].update(embed_dims=E, in_channels=64, num_heads=HEADS,
                                feedforward_channels=FF)
    cfg['pts_bbox_head']['position_embedding'].update(depth_num=D)
    cfg_file = tmp_path / 'petr_tiny.py'
    Config(dict(model=cfg)).dump(str(cfg_file))
    official = official_state_dict(seed=5)
    official[HEAD + 'input_proj.weight'] = torch.randn(E, 64, 1, 1)
    official['img_backbone.stem.conv.weight'] = torch.randn(4, 3, 3, 3)
    torch.save(dict(state_dict=official), tmp_path / 'official.pth')
    assert tool.main([str(tmp_path / 'official.pth'), str(tmp_path / 'ours.pth'),
                      '--config', str(cfg_file)]) == 0
    out = torch.load(tmp_path / 'ours.pth', weights_only=False)
    assert HEAD + 'decoder.layers.5.cross_attn.attn.in_proj_weight' in out['state_dict']
    assert 'img_backbone.stem.conv.weight' in out['meta']['dropped']
    # A head that does not fit the checkpoint (one layer short) fails the command.
    cfg['pts_bbox_head'].update(num_layers=L - 1)
    Config(dict(model=cfg)).dump(str(cfg_file))
    assert tool.main([str(tmp_path / 'official.pth'), str(tmp_path / 'ours.pth'),
                      '--config', str(cfg_file)]) == 1
