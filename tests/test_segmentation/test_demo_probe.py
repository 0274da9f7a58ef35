"""``make demo``'s probe: pre-training teacher -> frozen mmseg ViT -> trained linear head."""
from pathlib import Path

import pytest
import torch
from mmpretrain.models import VisionTransformer as PretrainViT

from s3pt_mm.segmentation.demo_probe import run_linear_probe

REPO = Path(__file__).resolve().parents[2]
DEMO_PRETRAIN = REPO / 'configs/s3pt/demo_vit-tiny_synthetic-cpu.py'
DEMO_ARCH = dict(embed_dims=128, num_layers=4, num_heads=4, feedforward_channels=512)


def test_probe_trains_on_the_converted_teacher(synthetic_seg_root, tmp_path, capsys):
    torch.manual_seed(0)
    teacher = PretrainViT(arch=DEMO_ARCH, img_size=96, patch_size=16, out_type='raw')
    student = PretrainViT(arch=DEMO_ARCH, img_size=96, patch_size=16, out_type='raw')
    state = {f'backbone.{k}': v for k, v in student.state_dict().items()}
    state.update({f'teacher.module.backbone.{k}': v for k, v in teacher.state_dict().items()})
    checkpoint = tmp_path / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=state), checkpoint)

    metrics = run_linear_probe(checkpoint, synthetic_seg_root, tmp_path / 'probe',
                               pretrain_config=DEMO_PRETRAIN if DEMO_PRETRAIN.is_file() else None,
                               max_iters=4)
    out = capsys.readouterr().out
    assert 'per class results' in out and 'linear probe on the frozen teacher' in out
    assert 0.0 <= metrics['mIoU'] <= 100.0 and 'IoU.sky' in metrics
    assert f'val mIoU {metrics["mIoU"]:.2f}' in out
    converted = torch.load(tmp_path / 'probe' / 'teacher_backbone_mmseg.pth')['state_dict']
    assert torch.equal(converted['layers.2.attn.attn.in_proj_weight'],
                       teacher.state_dict()['layers.2.attn.qkv.weight'])
    assert converted['pos_embed'].shape == (1, 37, 128)  # 96 / 16 = 6x6 grid + class token
    with pytest.raises(ValueError, match='student'):
        run_linear_probe(checkpoint, synthetic_seg_root, tmp_path / 'bad', source='pupil')
