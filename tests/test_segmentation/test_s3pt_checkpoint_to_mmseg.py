"""A checkpoint written by the real S3PT model (not a look-alike) loads into mmseg's ViT."""
import numpy as np
import torch
from mmengine.logging import MessageHub
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmpretrain.structures import DataSample
from mmseg.registry import MODELS as SEG_MODELS

import s3pt_mm  # noqa: F401
from s3pt_mm.converters import convert_to_mmseg, load_pretrain_checkpoint, mmseg_vit_kwargs

IMG, PATCH, DIMS, HEADS = 64, 16, 64, 4
GRID = IMG // PATCH


def _trained_s3pt():
    """A small S3PT after one optimizer step: its EMA teacher now differs from the student."""
    torch.manual_seed(0)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(dict(
            type='S3PT',
            backbone=dict(type='mmpretrain.VisionTransformer',
                          arch=dict(embed_dims=DIMS, num_layers=2, num_heads=HEADS,
                                    feedforward_channels=4 * DIMS),
                          img_size=IMG, patch_size=PATCH, out_type='raw', drop_path_rate=0.1),
            head=dict(type='S3PTHead', in_channels=DIMS, out_channels=64, hidden_channels=64,
                      bottleneck_channels=16, use_vmf=True, norm_last_layer=False),
            assigner=dict(type='DepthGuidedSinkhornAssigner', num_clusters=4),
            queue=dict(queue_size=4)))
    views = [torch.randn(2, 3, IMG, IMG) for _ in range(2)]
    samples = []
    for _ in range(2):
        sample = DataSample()
        sample.set_field(torch.rand(2, GRID * GRID, 2) * 100, 'token_pos')
        sample.set_field(torch.rand(2, GRID * GRID) * 30 + 1, 'token_depth')
        sample.set_field(torch.ones(2, GRID * GRID, dtype=torch.bool), 'token_depth_valid')
        samples.append(sample)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    for _ in range(2):  # step 1 copies the student into the teacher; step 2 averages
        losses = model.loss(views, samples)
        optimizer.zero_grad()
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
        optimizer.step()
    return model.eval()


def test_s3pt_checkpoint_loads_into_mmseg_vit_with_equal_features(tmp_path):
    model = _trained_s3pt()
    path = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, seed=np.int64(0)), state_dict=model.state_dict()), path)

    converted = convert_to_mmseg(load_pretrain_checkpoint(str(path)), source='teacher')
    assert converted.prefix == 'teacher.module.backbone.'
    assert not converted.report.missing and not converted.report.unexpected
    with DefaultScope.overwrite_default_scope('mmseg'):
        backbone = SEG_MODELS.build(mmseg_vit_kwargs(converted.arch, num_heads=HEADS))
    result = backbone.load_state_dict(converted.state_dict, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    backbone.eval()

    x = torch.randn(2, 3, IMG, IMG, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = backbone(x)[-1]  # (B, C, h, w)
        as_map = lambda t: t[:, 1:].reshape(2, GRID, GRID, DIMS).permute(0, 3, 1, 2)  # noqa
        teacher = as_map(model.teacher.module.backbone(x)[-1])
        student = as_map(model.backbone(x)[-1])
    assert (ours - teacher).abs().max().item() <= 1e-4
    assert (ours - student).abs().max().item() > 1e-3, 'the teacher, not the student, was taken'
