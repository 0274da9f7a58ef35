"""PETR learns: it memorises two synthetic samples on CPU (frozen random tiny ViT).

With a frozen backbone, the image features plus the 3D position embedding are all the queries
see; a working head (matching, losses, reference-point refinement, box code) must drive the
loss down and put the top-scoring boxes on the ground truth.
"""
import numpy as np
import torch
from mmengine.dataset import pseudo_collate

ITERS = 500
HALF_RANGE = 20.0  # targets within +-20 m: 17 and 21 boxes in the two samples


def test_petr_overfits_two_synthetic_samples(det3d, tiny_petr_cfg, build_petr_dataset,
                                             synthetic_petr_root, single_thread):
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    np.random.seed(0)
    model = MODELS.build(tiny_petr_cfg(num_queries=60, num_layers=2, half_range=HALF_RANGE))
    model.init_weights()
    ds = build_petr_dataset(synthetic_petr_root, 'nuscenes_infos_train.pkl')
    batch = model.data_preprocessor(pseudo_collate([ds[0], ds[1]]), training=True)

    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.0)
    # Constant lr, then x0.1 for the last quarter so the final iterate settles.
    sched = torch.optim.lr_scheduler.MultiStepLR(optim, [3 * ITERS // 4], gamma=0.1)
    model.train()
    history = []
    for _ in range(ITERS):
        loss = sum(model(**batch, mode='loss').values())
        optim.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 35)  # the configs' grad clip
        optim.step()
        sched.step()
        history.append(float(loss))
    drop = np.mean(history[:5]) / np.mean(history[-5:])
    # Measured: 28x here (14-32x over seeds 0-5 in the experiments behind this test).
    assert drop > 8, f'loss only fell {drop:.1f}x ({history[0]:.2f} -> {history[-1]:.2f})'

    model.eval()
    with torch.no_grad():
        results = model(**batch, mode='predict')
    for sample, result in zip(batch['data_samples'], results):
        gt = sample.gt_instances_3d
        centre = gt.bboxes_3d.gravity_center
        inside = (centre[:, :2].abs() <= HALF_RANGE).all(1)
        gt_xy, gt_label = centre[inside, :2], gt.labels_3d[inside]
        pred = result.pred_instances_3d
        k = len(gt_label)
        pred_xy, pred_label = pred.bboxes_3d.gravity_center[:k, :2], pred.labels_3d[:k]
        dist = torch.cdist(pred_xy, gt_xy)
        dist[pred_label[:, None] != gt_label[None, :]] = float('inf')
        # Of the k best boxes (k = number of targets), the share within 1 m of a same-class
        # target. Measured 0.94 and 1.0 here (0.94-1.0 over seeds 0-5).
        share = float((dist.min(1).values < 1.0).float().mean())
        assert share >= 0.8, f'only {share:.2f} of the top-{k} boxes match a target'
