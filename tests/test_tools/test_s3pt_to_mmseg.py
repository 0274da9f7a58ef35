"""Pre-training checkpoint -> mmseg ViT: keys, heads, and features equal to the teacher's.

The checkpoint is written by a real mmengine ``Runner`` (one training iteration) for a model laid
out like the pre-training one: student ``backbone`` = mmpretrain ViT-S/16 (``arch='deit-small'``,
``out_type='raw'``), EMA teacher (mmpretrain ``CosineEMA``) around
``nn.ModuleDict(backbone=..., head=...)``, initialised differently so that teacher and student can
be told apart.
"""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmpretrain.models import VisionTransformer as PretrainViT
from mmpretrain.models.utils import CosineEMA
from torch import nn

import s3pt_mm.segmentation  # noqa: F401  registers the segmentation modules
from s3pt_mm.converters import (convert_to_mmseg, extract_backbone, load_pretrain_checkpoint,
                                mmpretrain_vit_to_mmseg, mmseg_vit_report)

REPO = Path(__file__).resolve().parents[2]
VIT_S16 = dict(arch='deit-small', patch_size=16, img_size=224, drop_path_rate=0.1,
               out_type='raw', final_norm=True, with_cls_token=True)


def _build_mmseg(cfg):
    """Build from mmseg's registry whatever default scope an earlier Runner left behind."""
    from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg)


def _load_tool(name: str):
    path = REPO / 'tools' / 'model_converters' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _TinySelfSupervisor(BaseModel):
    """Student backbone + head, EMA teacher of both: the pre-training state-dict layout
    (``backbone.*``, ``head.*``, ``teacher.module.{backbone,head}.*``, ``teacher.steps``)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = PretrainViT(**VIT_S16)
        self.head = nn.Linear(384, 8)
        torch.manual_seed(1)  # a different teacher, so converted weights show which one was used
        self.teacher = CosineEMA(nn.ModuleDict(dict(backbone=PretrainViT(**VIT_S16),
                                                    head=nn.Linear(384, 8))), momentum=0.5)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        tokens = self.backbone(inputs)[0]
        if mode == 'loss':
            return dict(loss=self.head(tokens[:, 0]).pow(2).mean())
        return tokens

    # No EMA update in train_step: the first one would copy the student into the teacher, and
    # the test needs them different to see which one the converter took.


class _Images(torch.utils.data.Dataset):

    """Small images: the iteration only has to produce a Runner checkpoint, cheaply."""

    def __len__(self):
        return 1

    def __getitem__(self, i):
        return dict(inputs=torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(i)))


@pytest.fixture(scope='module')
def pretrain_run(tmp_path_factory):
    """(checkpoint path, model) after one Runner iteration with a checkpoint saved."""
    work_dir = tmp_path_factory.mktemp('pretrain')
    model = _TinySelfSupervisor()
    runner = Runner(
        model=model, work_dir=str(work_dir),
        train_dataloader=dict(dataset=_Images(), batch_size=1,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=1e-3)),
        train_cfg=dict(by_epoch=False, max_iters=1),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        default_scope='mmengine')
    runner.train()
    return work_dir / 'iter_1.pth', model.eval()


@pytest.fixture(scope='module')
def converted_file(pretrain_run, tmp_path_factory):
    src, _ = pretrain_run
    dst = tmp_path_factory.mktemp('converted') / 'vit-s16_mmseg.pth'
    assert _load_tool('s3pt_to_mmseg').main([str(src), str(dst)]) == 0
    return dst


def test_runner_checkpoint_layout(pretrain_run):
    src, model = pretrain_run
    ckpt = load_pretrain_checkpoint(str(src))  # torch's safe loader + s3pt_mm's allow-list
    assert {'meta', 'state_dict', 'message_hub', 'optimizer'} <= set(ckpt)
    teacher, prefix = extract_backbone(ckpt['state_dict'], 'teacher')
    student, _ = extract_backbone(ckpt['state_dict'], 'student')
    assert prefix == 'teacher.module.backbone.'
    assert set(teacher) == set(student) == set(model.backbone.state_dict())
    for key, value in model.teacher.module.backbone.state_dict().items():
        assert torch.equal(teacher[key], value)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(student[key], value)
    assert not torch.equal(teacher['layers.0.attn.qkv.weight'], student['layers.0.attn.qkv.weight'])


def test_conversion_report_has_no_missing_or_unexpected_keys(pretrain_run):
    result = convert_to_mmseg(load_pretrain_checkpoint(str(pretrain_run[0])))
    assert result.report.missing == [] and result.report.unexpected == []
    assert result.report.shape_mismatch == []
    assert result.arch.embed_dims == 384 and result.arch.num_layers == 12
    assert result.arch.grid == (14, 14) and result.arch.patch_bias
    # qkv is renamed, not rearranged: mmpretrain's [q; k; v] rows are nn.MultiheadAttention's.
    assert 'layers.3.attn.attn.in_proj_weight' in result.state_dict
    assert 'patch_embed.projection.bias' in result.state_dict


@pytest.mark.parametrize('head', ['linear', 'mask'])
def test_both_heads_load_every_backbone_key(converted_file, head):
    cfg = Config.fromfile(str(REPO / f'configs/segmenter/{head}_vit-s16_160k_nuimages-512x512.py'))
    cfg.model.backbone.init_cfg.checkpoint = str(converted_file)
    model = _build_mmseg(cfg.model)
    model.init_weights()
    converted = torch.load(converted_file, map_location='cpu')['state_dict']
    loaded = model.backbone.state_dict()
    # mmseg loads with strict=False: check that every key arrived, and nothing else exists.
    assert sorted(set(loaded) - set(converted)) == []  # missing
    assert sorted(set(converted) - set(loaded)) == []  # unexpected
    for key, value in converted.items():
        assert torch.equal(loaded[key], value), key
    assert type(model.decode_head).__name__ == {
        'linear': 'FCNHead', 'mask': 'SegmenterMaskTransformerHead'}[head]


@pytest.fixture(scope='module')
def mmseg_backbone(converted_file):
    """The ViT-S/16 backbone of our segmentation configs, initialised from the conversion."""
    cfg = Config.fromfile(str(REPO / 'configs/segmenter/linear_vit-s16_160k_nuimages-512x512.py'))
    cfg.model.backbone.init_cfg.checkpoint = str(converted_file)
    backbone = _build_mmseg(cfg.model.backbone)
    backbone.init_weights()
    backbone.eval()  # mmseg's ViT.train() returns None, so no chaining
    return backbone


@pytest.mark.parametrize('size', [224, 320])
def test_mmseg_features_equal_teacher_features(pretrain_run, mmseg_backbone, size):
    _, model = pretrain_run
    backbone = mmseg_backbone
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(3))
    grid = size // 16
    as_map = lambda t: t[:, 1:].reshape(1, grid, grid, 384).permute(0, 3, 1, 2)  # noqa: E731
    with torch.no_grad():
        ours = backbone(x)[0]  # (B, C, h, w)
        teacher = as_map(model.teacher.module.backbone(x)[0])  # (B, 1 + hw, C) -> patch map
        student = as_map(model.backbone(x)[0]) if size == 224 else None
    assert ours.shape == (1, 384, grid, grid)
    diff = (ours - teacher).abs().max().item()
    # 224 = pre-training grid (pos_embed as trained); 320 = both resize pos_embed bicubically.
    print(f'input {size}x{size}: max abs difference mmseg vs teacher features {diff:.2e}')
    assert diff <= 1e-4, f'max abs feature difference {diff:.2e}'
    if student is not None:
        assert (ours - student).abs().max().item() > 1e-2  # it is the teacher's


def test_student_source_and_missing_prefix_error(pretrain_run, tmp_path):
    src, model = pretrain_run
    tool = _load_tool('s3pt_to_mmseg')
    dst = tmp_path / 'student.pth'
    assert tool.main([str(src), str(dst), '--source', 'student']) == 0
    weights = torch.load(dst)['state_dict']
    assert torch.equal(weights['layers.0.attn.attn.in_proj_weight'],
                       model.backbone.state_dict()['layers.0.attn.qkv.weight'])
    # A checkpoint without either backbone prefix: a clear error naming what was searched.
    bare = tmp_path / 'no_backbone.pth'
    torch.save(dict(state_dict={'neck.weight': torch.zeros(2)}), bare)
    with pytest.raises(ValueError, match=r"teacher\.module\.backbone\..*top-level names.*neck"):
        tool.main([str(bare), str(tmp_path / 'x.pth')])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        tool.main([str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth')])


def test_report_catches_what_strict_false_would_hide():
    vit = PretrainViT(arch=dict(embed_dims=64, num_layers=2, num_heads=2,
                                feedforward_channels=256), img_size=32, patch_size=16,
                      out_type='raw')
    converted = mmpretrain_vit_to_mmseg(vit.state_dict())
    from s3pt_mm.converters import infer_vit_arch
    arch = infer_vit_arch(vit.state_dict())
    assert mmseg_vit_report(converted, arch).ok
    converted['layers.1.attn.attn.in_proj_weight_renamed'] = converted.pop(
        'layers.1.attn.attn.in_proj_weight')
    report = mmseg_vit_report(converted, arch)
    assert report.missing == ['layers.1.attn.attn.in_proj_weight']
    assert report.unexpected == ['layers.1.attn.attn.in_proj_weight_renamed']
    with pytest.raises(ValueError, match='layer scale'):
        mmpretrain_vit_to_mmseg(PretrainViT(
            arch=dict(embed_dims=64, num_layers=1, num_heads=2, feedforward_channels=128),
            img_size=32, patch_size=16, layer_scale_init_value=0.1).state_dict())
