"""FrozenBackbone: the pre-trained teacher ViT loads exactly and never changes in training."""
from collections import OrderedDict

import numpy as np
import torch
from mmengine.dataset import pseudo_collate

REAL_PKL = 'n015-2018-07-24-11-22-45+0800.pkl'
VIT_S = dict(type='mmpretrain.VisionTransformer', arch='deit-small', patch_size=16,
             final_norm=True, with_cls_token=True)


def _write_pretrain_checkpoint(path) -> 'OrderedDict[str, torch.Tensor]':
    """An mmengine-Runner-style S3PT checkpoint: student under ``backbone.``, EMA teacher
    under ``teacher.module.backbone.``, heads, numpy scalars in ``meta``; returns the
    teacher's backbone weights."""
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    pretrain_vit = dict(VIT_S, img_size=224, out_type='raw')  # as in configs/s3pt
    student, teacher = MODELS.build(pretrain_vit), MODELS.build(pretrain_vit)
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(torch.randn_like(p))  # teacher != student
    state = OrderedDict()
    for k, v in student.state_dict().items():
        state[f'backbone.{k}'] = v
    for k, v in teacher.state_dict().items():
        state[f'teacher.module.backbone.{k}'] = v
    state['head.mlp.0.weight'] = torch.randn(16, 384)
    state['teacher.module.head.mlp.0.weight'] = torch.randn(16, 384)
    torch.save(dict(meta=dict(epoch=np.int64(500), iter=np.int64(12000), seed=np.int64(0)),
                    state_dict=state), path)
    return teacher.state_dict()


def test_teacher_backbone_loads_with_prefix_and_resized_pos_embed(det3d, tmp_path):
    from mmdet3d.registry import MODELS
    from mmengine.runner.checkpoint import _load_checkpoint_with_prefix
    from mmpretrain.models.utils import resize_pos_embed
    ckpt = str(tmp_path / 'epoch_500.pth')
    teacher = _write_pretrain_checkpoint(ckpt)
    init_cfg = dict(type='Pretrained', checkpoint=ckpt, prefix='teacher.module.backbone.')
    frozen = MODELS.build(dict(type='FrozenBackbone', backbone=dict(
        VIT_S, img_size=(320, 800), out_type='featmap', init_cfg=init_cfg)))
    frozen.init_weights()
    loaded = frozen.backbone.state_dict()
    assert set(loaded) == set(teacher)
    for key, value in teacher.items():
        if key == 'pos_embed':  # 1 + 14 x 14 tokens -> 1 + 20 x 50 by mmpretrain's load hook
            value = resize_pos_embed(value, (14, 14), (20, 50), 'bicubic', 1)
            assert loaded[key].shape == (1, 1001, 384)
        assert torch.equal(loaded[key], value), key

    # mmengine's own prefix loader + the hook: 0 missing and 0 unexpected keys.
    fresh = MODELS.build(dict(VIT_S, img_size=(320, 800), out_type='featmap'))
    result = fresh.load_state_dict(_load_checkpoint_with_prefix('teacher.module.backbone.', ckpt),
                                   strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []

    # Keeping the 224 grid and resizing per forward gives the same 800x320 features.
    at_224 = MODELS.build(dict(type='FrozenBackbone', backbone=dict(
        VIT_S, img_size=224, out_type='featmap', init_cfg=init_cfg)))
    at_224.init_weights()
    img = torch.randn(1, 3, 320, 800)
    feat = frozen(img)[0]
    assert feat.shape == (1, 384, 20, 50)
    torch.testing.assert_close(at_224(img)[0], feat, atol=1e-5, rtol=1e-5)


def test_backbone_gets_no_gradients_and_never_changes(det3d, tiny_petr_cfg, build_petr_dataset,
                                                      nuscenes_sample_dir, real_prefix,
                                                      single_thread):
    """Three AdamW steps on the real keyframe: every backbone parameter and buffer is
    bit-identical, none has a gradient, dropout / drop-path (p = 0.5) stay off."""
    from mmdet3d.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(tiny_petr_cfg(vit_drop=0.5, grid_mask=True))
    model.init_weights()
    model.train()
    backbone = model.img_backbone
    assert all(not m.training for m in backbone.backbone.modules())
    assert all(not p.requires_grad for p in backbone.parameters())
    before = {k: v.clone() for k, v in backbone.state_dict(keep_vars=False).items()}
    head_before = {k: v.clone() for k, v in model.pts_bbox_head.named_parameters()}

    ds = build_petr_dataset(nuscenes_sample_dir, REAL_PKL, data_prefix=real_prefix)
    batch = model.data_preprocessor(pseudo_collate([ds[0]]), training=True)
    imgs = batch['inputs']['imgs'].flatten(0, 1)
    torch.testing.assert_close(backbone(imgs)[0], backbone(imgs)[0], rtol=0, atol=0)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        losses = model(**batch, mode='loss')
        optim.zero_grad()
        sum(losses.values()).backward()
        assert all(p.grad is None for p in backbone.parameters())
        optim.step()
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, before[key]), key
    moved = [k for k, v in model.pts_bbox_head.named_parameters()
             if not torch.equal(v, head_before[k])]
    assert len(moved) > 0.9 * len(head_before)
