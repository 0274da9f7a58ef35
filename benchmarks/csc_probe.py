r"""CSC vs SLidR vs random init: linear probe and 1 %-label fine-tuning of MinkUNet (synthetic).

Pipeline (docs/csc.md §9):

1. generate synthetic nuScenes scenes with per-point labels (``s3pt_mm.synthetic``);
2. pre-train ``CSCPretrainer`` twice per seed: CSC (semantic superpixels from the rendered
   2D labels mapped into a *different* 10-class label space, L_pro from epoch lambda) and
   SLidR (SLIC superpixels, no L_pro). The 2D side is a frozen, randomly initialised small
   ViT (no S3PT weights can be downloaded here) with the trainable 1x1 decoder;
3. downstream on the 16 nuScenes-lidarseg classes, for CSC / SLidR / random init:
   * linear probe: the backbone frozen, a linear point classifier trained on all train scans;
   * fine-tuning with 1 % of the labelled scans (at least one scan), the whole MinkUNet;
   mIoU on the val scans (mean over the classes present in the val ground truth).

Prints a table of mean +- std over the seeds. ``--quick`` is a CI smoke run (tiny data,
one seed, few steps) that checks the pipeline end to end, not the numbers.

Examples:
    python benchmarks/csc_probe.py --out /tmp/csc_probe            # the README numbers
    python benchmarks/csc_probe.py --out /tmp/csc_quick --quick    # smoke test
"""
import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import s3pt_mm.csc  # noqa: F401  (registers CSC and the mmdet3d parts it uses)
from mmdet3d.registry import DATASETS, MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from s3pt_mm.csc.convert import csc_to_minkunet
from s3pt_mm.datasets.nuscenes_infos import NUSCENES_DATA_PREFIX, load_nuscenes_infos, load_points
from s3pt_mm.synthetic import SyntheticConfig, generate_dataset
from s3pt_mm.synthetic.point_labels import lidarseg_path, load_lidarseg

NUM_CLASSES = 16
IGNORE = 16


def backbone_cfg(width):
    return dict(type='MinkUNetBackbone', in_channels=4, base_channels=width, num_stages=4,
                encoder_channels=[width, 2 * width, 4 * width, 8 * width],
                encoder_blocks=[1, 1, 1, 1],
                decoder_channels=[4 * width, 2 * width, width + width // 2,
                                  width + width // 2],
                decoder_blocks=[1, 1, 1, 1], sparseconv_backend='spconv')


def points_preprocessor_cfg(voxel):
    return dict(type='CPUSafeDet3DDataPreprocessor', voxel=True, voxel_type='minkunet',
                batch_first=True, max_voxels=None,
                voxel_layer=dict(max_num_points=-1,
                                 point_cloud_range=[-100, -100, -20, 100, 100, 20],
                                 voxel_size=[voxel] * 3, max_voxels=(-1, -1)))


def pretrainer_cfg(args, csc):
    out_ch = args.width + args.width // 2
    return dict(
        type='CSCPretrainer',
        data_preprocessor=dict(type='CSCDataPreprocessor',
                               points_preprocessor=points_preprocessor_cfg(args.voxel)),
        backbone=backbone_cfg(args.width), backbone_channels=out_ch,
        image_backbone=dict(type='FrozenBackbone', backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch=dict(embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=192),
            img_size=tuple(args.img_size), patch_size=16, out_type='featmap')),
        image_channels=96, patch_size=16, feat_channels=32,
        criterion=dict(num_prototypes=10, hidden=64, start_epoch=args.proto_epoch,
                       use_prototype_loss=csc))


def superpixel_cfg(csc):
    if csc:
        return dict(type='semantic', num_classes=10, label_map='synthetic_2d')
    return dict(type='slic', n_segments=args_global.slic_segments)


def pretrain(args, csc, seed, items):
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = MODELS.build(pretrainer_cfg(args, csc))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.pretrain_lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    for epoch in range(args.pretrain_epochs):
        model.set_epoch(epoch)
        if model.criterion.needs_prototypes:
            model.build_prototypes(pseudo_collate(items[i:i + args.batch])
                                   for i in range(0, len(items), args.batch))
        model.train()
        order = rng.permutation(len(items))
        logs = []
        for i in range(0, len(order), args.batch):
            batch = pseudo_collate([items[j] for j in order[i:i + args.batch]])
            losses = model(**model.data_preprocessor(batch, True), mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            opt.zero_grad()
            loss.backward()
            opt.step()
            logs.append({k: float(v.detach()) for k, v in losses.items()})
        mean = {k: np.mean([log[k] for log in logs if k in log]) for k in logs[-1]}
        print(f'  [{"csc" if csc else "slidr"} seed {seed}] epoch {epoch}: '
              + ', '.join(f'{k} {v:.3f}' for k, v in mean.items()), flush=True)
    return csc_to_minkunet(model.state_dict())[0]


def seg_items(infos, root):
    out = []
    for info in infos:
        pts = load_points(info.lidar_path)[:, :4]
        labels = load_lidarseg(lidarseg_path(root, info.lidar_path), len(pts)).astype(np.int64)
        labels[labels >= NUM_CLASSES] = IGNORE
        ds = Det3DDataSample()
        ds.gt_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(labels))
        out.append(dict(inputs=dict(points=torch.from_numpy(pts)), data_samples=ds))
    return out


def build_segmentor(args, backbone_state, seed):
    torch.manual_seed(seed)
    out_ch = args.width + args.width // 2
    model = MODELS.build(dict(
        type='MinkUNet', data_preprocessor=points_preprocessor_cfg(args.voxel),
        backbone=backbone_cfg(args.width),
        decode_head=dict(type='MinkUNetHead', channels=out_ch, num_classes=NUM_CLASSES,
                         dropout_ratio=0, ignore_index=IGNORE,
                         loss_decode=dict(type='mmdet.CrossEntropyLoss',
                                          avg_non_ignore=True)),
        train_cfg=dict(), test_cfg=dict()))
    if backbone_state is not None:
        missing, unexpected = model.load_state_dict(backbone_state, strict=False)
        assert not unexpected and all(k.startswith('decode_head.') for k in missing)
    return model


def point_features(model, items):
    """Frozen backbone features per point (eval mode)."""
    model.eval()
    feats = []
    with torch.no_grad():
        for item in items:
            data = model.data_preprocessor(pseudo_collate([item]), False)
            vd = data['inputs']['voxels']
            f = model.backbone(vd['voxels'], vd['coors'])
            feats.append(f[data['data_samples'][0].point2voxel_map.long()])
    return feats


def miou(preds, labels):
    conf = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for p, y in zip(preds, labels):
        keep = y < NUM_CLASSES
        conf += np.bincount(y[keep] * NUM_CLASSES + p[keep],
                            minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)
    inter = np.diag(conf)
    union = conf.sum(0) + conf.sum(1) - inter
    present = conf.sum(1) > 0
    return float(np.mean(inter[present] / np.maximum(union[present], 1)))


def linear_probe(args, state, seed, train, val):
    model = build_segmentor(args, state, seed)
    f_train, f_val = point_features(model, train), point_features(model, val)
    y_train = [it['data_samples'].gt_pts_seg.pts_semantic_mask for it in train]
    x, y = torch.cat(f_train), torch.cat(y_train)
    keep = y < NUM_CLASSES
    x, y = x[keep], y[keep]
    torch.manual_seed(seed)
    head = torch.nn.Linear(x.shape[1], NUM_CLASSES)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    for _ in range(args.probe_steps):
        idx = torch.randint(0, len(x), (min(8192, len(x)),))
        loss = F.cross_entropy(head(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        preds = [head(f).argmax(1).numpy() for f in f_val]
    labels = [it['data_samples'].gt_pts_seg.pts_semantic_mask.numpy() for it in val]
    return miou(preds, labels)


def finetune(args, state, seed, train_subset, val):
    model = build_segmentor(args, state, seed)
    opt = torch.optim.AdamW(model.parameters(), lr=args.finetune_lr, weight_decay=1e-4)
    model.train()
    for step in range(args.finetune_steps):
        batch = pseudo_collate([copy.deepcopy(train_subset[step % len(train_subset)])])
        losses = model(**model.data_preprocessor(batch, True), mode='loss')
        loss = sum(v for k, v in losses.items() if 'loss' in k)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    preds, labels = [], []
    with torch.no_grad():
        for item in val:
            data = model.data_preprocessor(pseudo_collate([copy.deepcopy(item)]), False)
            out = model(**data, mode='predict')
            preds.append(out[0].pred_pts_seg.pts_semantic_mask.numpy())
            labels.append(item['data_samples'].gt_pts_seg.pts_semantic_mask.numpy())
    return miou(preds, labels)


def main(argv=None):
    global args_global
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='working folder (dataset, results.json)')
    p.add_argument('--quick', action='store_true', help='CI smoke run')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--scenes', type=int, default=3, help='scenes (the last one is val)')
    p.add_argument('--samples-per-scene', type=int, default=4)
    p.add_argument('--img-size', type=int, nargs=2, default=[48, 96], help='network H W')
    p.add_argument('--width', type=int, default=16, help='MinkUNet base channels')
    p.add_argument('--voxel', type=float, default=0.3)
    p.add_argument('--pretrain-epochs', type=int, default=8)
    p.add_argument('--proto-epoch', type=int, default=3, help='lambda (paper: 5 of 50)')
    p.add_argument('--pretrain-lr', type=float, default=2e-3)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--probe-steps', type=int, default=300)
    p.add_argument('--finetune-steps', type=int, default=60)
    p.add_argument('--finetune-lr', type=float, default=2e-3)
    p.add_argument('--label-fraction', type=float, default=0.01)
    p.add_argument('--slic-segments', type=int, default=30)
    p.add_argument('--cameras', nargs='+', default=None, help='channels (default: all six)')
    p.add_argument('--render-size', type=int, nargs=2, default=[320, 180],
                   help='generated image W H')
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.scenes, args.samples_per_scene = [0], 2, 1
        args.pretrain_epochs, args.proto_epoch = 2, 1
        args.probe_steps, args.finetune_steps, args.width = 5, 2, 8
        args.voxel, args.img_size, args.render_size = 0.6, [32, 64], [192, 108]
        args.cameras = ['CAM_FRONT', 'CAM_BACK']
    args_global = args
    init_default_scope('mmdet3d')
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    root = Path(args.out) / 'synthetic'
    if not (root / 'nuscenes_infos_val.pkl').exists():
        generate_dataset(str(root), SyntheticConfig(
            num_scenes=args.scenes, samples_per_scene=args.samples_per_scene, seed=123,
            image_size=tuple(args.render_size), num_val_scenes=1))
    ann = str(root / 'nuscenes_infos_train.pkl')
    items = {}
    for name, csc in (('csc', True), ('slidr', False)):
        ds = DATASETS.build(dict(type='CSCPairedDataset', ann_file=ann,
                                 superpixels=superpixel_cfg(csc), img_size=tuple(args.img_size),
                                 cameras=args.cameras))
        items[name] = [ds[i] for i in range(len(ds))]
    train_infos = load_nuscenes_infos(ann, data_prefix=NUSCENES_DATA_PREFIX)
    val_infos = load_nuscenes_infos(root / 'nuscenes_infos_val.pkl',
                                    data_prefix=NUSCENES_DATA_PREFIX)
    train, val = seg_items(train_infos, root), seg_items(val_infos, root)
    from s3pt_mm.csc.label_subset import label_subset_indices
    results = {m: {'linear_probe': [], 'finetune_1pct': []} for m in ('csc', 'slidr', 'random')}
    for seed in args.seeds:
        subset = [train[i] for i in label_subset_indices(len(train), args.label_fraction, seed)]
        states = {'csc': pretrain(args, True, seed, items['csc']),
                  'slidr': pretrain(args, False, seed, items['slidr']), 'random': None}
        for method, state in states.items():
            lp = linear_probe(args, state, seed, train, val)
            ft = finetune(args, state, seed, subset, val)
            results[method]['linear_probe'].append(lp)
            results[method]['finetune_1pct'].append(ft)
            print(f'seed {seed} {method}: linear probe mIoU {lp:.4f}, 1% fine-tune mIoU '
                  f'{ft:.4f}', flush=True)
    minutes = (time.perf_counter() - start) / 60
    print(f'\n{len(train)} train / {len(val)} val scans, seeds {args.seeds}, {minutes:.1f} min')
    print('| init | linear probe mIoU | 1 % fine-tune mIoU |\n| --- | --- | --- |')
    for method, r in results.items():
        cells = [f'{100 * np.mean(v):.1f} +- {100 * np.std(v):.1f}' for v in r.values()]
        print(f'| {method} | {cells[0]} | {cells[1]} |')
    (Path(args.out) / 'results.json').write_text(json.dumps(
        dict(results=results, args=vars(args), minutes=minutes), indent=1))
    return 0


args_global = None

if __name__ == '__main__':
    sys.exit(main())
