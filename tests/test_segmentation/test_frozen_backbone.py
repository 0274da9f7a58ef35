"""The backbone of our segmentation configs is frozen: no gradients, no change while heads train."""
import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

MASK_HEAD = dict(type='SegmenterMaskTransformerHead', in_channels=128, channels=128,
                 num_layers=1, num_heads=4, embed_dims=128, dropout_ratio=0.0,
                 loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0))


def _batch(seed: int, num_classes: int = 17) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(2):
        inputs.append(torch.randint(0, 256, (3, 64, 96), generator=g, dtype=torch.uint8))
        sample = SegDataSample(metainfo=dict(img_shape=(64, 96), ori_shape=(64, 96)))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, num_classes, (1, 64, 96), generator=g))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('head', ['linear', 'mask'])
def test_backbone_gets_no_gradient_and_does_not_change(demo_cfg, head):
    if head == 'mask':
        demo_cfg.model.decode_head = dict(MASK_HEAD, num_classes=17)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(demo_cfg.model)
        model.init_weights()
        optim_wrapper = build_optim_wrapper(model, demo_cfg.optim_wrapper)
    model.train()
    backbone_params = dict(model.backbone.named_parameters())
    assert backbone_params and not any(p.requires_grad for p in backbone_params.values())
    assert all(p.requires_grad for p in model.decode_head.parameters())
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    head_before = {k: v.clone() for k, v in model.decode_head.state_dict().items()}

    # One backward by hand: gradients reach the head and nothing in the backbone.
    data = model.data_preprocessor(_batch(0), training=True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    loss.backward()
    assert all(p.grad is None for p in backbone_params.values())
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.decode_head.parameters())
    optim_wrapper.zero_grad()
    # A few optimizer steps as the train loop makes them.
    losses = [model.train_step(_batch(step), optim_wrapper)['loss'].item() for step in range(3)]

    assert all(torch.isfinite(torch.tensor(losses)))
    after = model.backbone.state_dict()
    assert set(after) == set(backbone_before)  # parameters and buffers alike
    for key, value in backbone_before.items():
        assert torch.equal(after[key], value), key
    head_change = max((model.decode_head.state_dict()[k] - v).abs().max().item()
                      for k, v in head_before.items() if v.is_floating_point())
    assert head_change > 1e-6  # the head did train


def test_frozen_features_are_the_same_in_train_and_eval_mode(demo_cfg):
    # No stochastic depth or dropout in the frozen backbone: the head trains on the features
    # it is evaluated on.
    with DefaultScope.overwrite_default_scope('mmseg'):
        backbone = MODELS.build(demo_cfg.model.backbone)
    backbone.init_weights()
    x = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    backbone.train()
    train_features = backbone(x)[0]
    backbone.eval()
    assert torch.equal(train_features, backbone(x)[0])
    assert demo_cfg.model.backbone.drop_path_rate == 0.0
