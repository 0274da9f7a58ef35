"""Pre-training checkpoint -> timm ViT naming, checked on a hand-written timm-layout ViT.

timm is not installed; ``_TimmStyleViT`` below is a minimal ViT whose module tree has timm's
``VisionTransformer`` names (``patch_embed.proj``, ``blocks.N.{norm1, attn.qkv, attn.proj, ls1,
norm2, mlp.fc1, mlp.fc2, ls2}``, ``norm``) and timm's forward (pre-norm blocks, class token first,
``pos_embed`` added to class and patch tokens). Loading the converted weights strictly and
reproducing mmpretrain's tokens validates the mapping.
"""
import importlib.util
from pathlib import Path

import pytest
import torch
from mmpretrain.models import VisionTransformer as PretrainViT
from torch import nn

from s3pt_mm.converters import (compare_keys, convert_to_timm, infer_vit_arch,
                                mmpretrain_vit_to_timm, timm_vit_shapes)

REPO = Path(__file__).resolve().parents[2]
TINY = dict(embed_dims=64, num_layers=2, num_heads=2, feedforward_channels=256)


class _LayerScale(nn.Module):

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * self.gamma


class _Attention(nn.Module):

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        # (B, N, 3C) -> 3 x (B, heads, N, C / heads), q/k/v in this order as in timm
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        attn = (q @ k.transpose(-2, -1) * (c // self.heads)**-0.5).softmax(-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):

    def __init__(self, dim: int, heads: int, hidden: int, layer_scale: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, heads)
        self.ls1 = _LayerScale(dim) if layer_scale else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, hidden)
        self.ls2 = _LayerScale(dim) if layer_scale else nn.Identity()

    def forward(self, x):
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class _PatchEmbed(nn.Module):

    def __init__(self, dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class _TimmStyleViT(nn.Module):
    """timm ``VisionTransformer(num_classes=0, class_token=True)``: names and computation."""

    def __init__(self, dim: int, depth: int, heads: int, hidden: int, patch: int,
                 grid: int, layer_scale: bool = False) -> None:
        super().__init__()
        self.patch_embed = _PatchEmbed(dim, patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.blocks = nn.Sequential(*[_Block(dim, heads, hidden, layer_scale)
                                      for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))


def _pretrain_vit(layer_scale: float = 0.0) -> PretrainViT:
    torch.manual_seed(0)
    vit = PretrainViT(arch=TINY, img_size=64, patch_size=16, out_type='raw', final_norm=True,
                      with_cls_token=True, layer_scale_init_value=layer_scale)
    vit.init_weights()
    with torch.no_grad():  # init leaves some tensors constant; make every weight informative
        for p in vit.parameters():
            p.add_(0.02 * torch.randn_like(p))
    vit.eval()
    return vit


@pytest.mark.parametrize('layer_scale', [0.0, 0.1])
def test_timm_names_load_strictly_and_give_the_same_tokens(layer_scale):
    vit = _pretrain_vit(layer_scale)
    converted = mmpretrain_vit_to_timm(vit.state_dict())
    ref = _TimmStyleViT(64, 2, 2, 256, 16, 4, layer_scale=layer_scale > 0)
    ref.load_state_dict(converted, strict=True)  # every name and shape, no leftovers
    ref.eval()
    # The name/shape table the CLI checks against is exactly the reference model's.
    expected = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert timm_vit_shapes(infer_vit_arch(vit.state_dict())) == expected
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        diff = (ref(x) - vit(x)[0]).abs().max().item()
    assert diff <= 1e-5, diff


def test_cli_writes_checked_timm_state_dict(tmp_path):
    vit = _pretrain_vit()
    other = _pretrain_vit()
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-1.0)
    # The Runner layout: student under backbone., EMA teacher under teacher.module.backbone.
    state = {f'backbone.{k}': v for k, v in other.state_dict().items()}
    state.update({f'teacher.module.backbone.{k}': v for k, v in vit.state_dict().items()})
    state['teacher.steps'] = torch.tensor(3)
    src = tmp_path / 'iter_3.pth'
    torch.save(dict(meta=dict(iter=3), state_dict=state, message_hub={}, optimizer={}), src)
    spec = importlib.util.spec_from_file_location(
        's3pt_to_timm', REPO / 'tools' / 'model_converters' / 's3pt_to_timm.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    dst = tmp_path / 'timm.pth'
    assert tool.main([str(src), str(dst)]) == 0
    weights = torch.load(dst)
    assert torch.equal(weights['blocks.1.mlp.fc2.weight'],
                       vit.state_dict()['layers.1.ffn.layers.1.weight'])
    assert torch.equal(weights['norm.bias'], vit.state_dict()['ln1.bias'])
    assert len(weights) == len(vit.state_dict())
    result = convert_to_timm(torch.load(src), source='student')
    assert result.report.ok and result.prefix == 'backbone.'
    assert torch.equal(result.state_dict['patch_embed.proj.weight'],
                       other.state_dict()['patch_embed.projection.weight'])


def test_unknown_keys_are_refused_and_reported():
    state = _pretrain_vit().state_dict()
    with pytest.raises(ValueError, match='head.fc.weight'):
        mmpretrain_vit_to_timm({**state, 'head.fc.weight': torch.zeros(2, 64)})
    arch = infer_vit_arch(state)
    converted = mmpretrain_vit_to_timm(state)
    converted.pop('blocks.0.attn.proj.bias')
    converted['pos_embed'] = torch.zeros(1, 5, 64)
    report = compare_keys(converted, timm_vit_shapes(arch))
    assert report.missing == ['blocks.0.attn.proj.bias'] and report.unexpected == []
    assert report.shape_mismatch == [('pos_embed', (1, 5, 64), (1, 17, 64))]
