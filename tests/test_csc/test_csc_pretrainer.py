"""The registered CSC model on synthetic scenes: losses, gradients, prototypes, bad input."""
import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.dataset import pseudo_collate

from s3pt_mm.csc import CSCPrototypeHook, superpixel_majority_class
from s3pt_mm.csc.label_spaces import SYNTHETIC_2D_CLASSES


@pytest.fixture(autouse=True)
def one_thread():
    """spconv's multi-threaded CPU convolution sums in a varying order (1e-2 differences
    after a few layers); one thread makes two passes over the same batch bit-identical."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _batch(dataset):
    return pseudo_collate([dataset[i] for i in range(len(dataset))])


def test_dataset_items_pair_points_with_semantic_superpixels(csc_synthetic_root, csc_cfgs):
    ds = DATASETS.build(csc_cfgs.dataset(csc_synthetic_root))
    item = ds[0]
    sample = item['data_samples']
    assert item['inputs']['cam_imgs'].shape == (2, 32, 64, 3)
    assert len(sample.pairing_points) > 100
    cam, row, col = sample.pairing_images.unbind(1)
    assert int(cam.max()) <= 1 and int(row.max()) < 32 and int(col.max()) < 64
    # Semantic superpixels are the 2D label space (10 classes), not the 16 LiDAR classes.
    classes = sample.sp_classes.unique().tolist()
    assert set(classes) <= set(range(len(SYNTHETIC_2D_CLASSES))) | {-1}
    assert SYNTHETIC_2D_CLASSES.index('sky') in classes


def test_loss_gradients_and_prototype_switch(csc_synthetic_root, csc_cfgs):
    torch.manual_seed(0)
    ds = DATASETS.build(csc_cfgs.dataset(csc_synthetic_root))
    model = MODELS.build(csc_cfgs.model(start_epoch=1))
    data = model.data_preprocessor(_batch(ds), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_sp', 'sp_infonce'} and torch.isfinite(losses['loss_sp'])
    losses['loss_sp'].backward()
    assert model.backbone.conv_input[0][0].weight.grad.abs().sum() > 0
    assert model.image_decoder[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.image_backbone.parameters())
    # Epoch 1 = lambda: prototypes rebuilt by a no-grad pass, then L_pro joins.
    hook = CSCPrototypeHook()
    runner = type('Runner', (), dict(model=model, epoch=0,
                                     train_dataloader=[_batch(ds)]))()
    hook.before_train_epoch(runner)
    assert not model.criterion.prototype_loss_active
    runner.epoch = 1
    hook.before_train_epoch(runner)
    assert model.criterion.prototype_loss_active
    # Prototype t is the mean of the class-t superpixel features of that (eval-mode) pass.
    model.eval()
    with torch.no_grad():
        pooled, classes = model.pool(**{'inputs': data['inputs'],
                                        'data_samples': data['data_samples']})
    for t in classes.unique().tolist():
        if t < 0:
            continue
        torch.testing.assert_close(model.criterion.point_prototypes[t],
                                   pooled.point_feats[classes == t].mean(0), atol=1e-5, rtol=0)
        torch.testing.assert_close(model.criterion.pixel_prototypes[t],
                                   pooled.pixel_feats[classes == t].mean(0), atol=1e-5, rtol=0)
    model.train()
    losses = model(**model.data_preprocessor(_batch(ds), True), mode='loss')
    assert {'loss_sp', 'loss_pro'} <= set(losses)
    assert torch.isfinite(losses['loss_sp'] + losses['loss_pro'])
    absent = sorted(set(range(10)) - set(classes.tolist()))
    assert absent and float(model.criterion.point_prototypes[absent].abs().sum()) == 0


def test_sweep_without_pairs_gives_zero_loss_not_nan(csc_synthetic_root, csc_cfgs):
    torch.manual_seed(0)
    ds = DATASETS.build(csc_cfgs.dataset(csc_synthetic_root))
    model = MODELS.build(csc_cfgs.model(start_epoch=0))
    model.criterion.set_prototypes(torch.randn(10, 16), torch.randn(10, 16))
    batch = _batch(ds)
    for sample in batch['data_samples']:  # no point inside any camera
        sample.pairing_points = sample.pairing_points[:0]
        sample.pairing_images = sample.pairing_images[:0]
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    total = losses['loss_sp'] + losses['loss_pro']
    total.backward()
    assert float(total.detach()) == 0.0
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_slidr_slic_source_has_no_semantics(csc_synthetic_root, csc_cfgs):
    torch.manual_seed(0)
    ds = DATASETS.build(csc_cfgs.dataset(csc_synthetic_root, source='slic'))
    model = MODELS.build(csc_cfgs.model(use_prototype_loss=False))
    model.set_epoch(10)
    batch = _batch(ds)
    assert int(batch['data_samples'][0].sp_classes.max()) == -1
    assert int(batch['data_samples'][0].superpixels.max()) > 3
    losses = model(**model.data_preprocessor(batch, True), mode='loss')
    assert set(losses) == {'loss_sp', 'sp_infonce'} and torch.isfinite(losses['loss_sp'])
    # CSC with a SLIC source: a clear error instead of a silent wrong target.
    csc = MODELS.build(csc_cfgs.model(start_epoch=0))
    csc.criterion.set_prototypes(torch.zeros(10, 16), torch.zeros(10, 16))
    data = csc.data_preprocessor(batch, True)
    losses = csc(**data, mode='loss')
    assert float(losses['loss_pro'].detach()) == 0.0  # every class is -1: nothing to pull
