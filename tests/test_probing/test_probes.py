"""Frozen-backbone probes of the pre-training protocol (s3pt_mm.probing.probes)."""
import numpy as np
import pytest
import torch

from s3pt_mm.probing.probes import (balanced_accuracy, fit_linear, iou_from_confusion,
                                    knn_predict, pool_object_tokens, segmentation_probe)
from s3pt_mm.probing.scenes import ProbeImage


def _image(semantic, instance=None, objects=()):
    h, w = semantic.shape
    return ProbeImage(name='x', rgb=np.zeros((h, w, 3), np.uint8), semantic=semantic,
                      instance=instance if instance is not None else np.full((h, w), -1,
                                                                             np.int32),
                      depth=np.zeros((h, w), np.float32), depth_gt=np.zeros((h, w), np.float32),
                      objects=list(objects))


def test_iou_from_confusion_matches_hand_counts():
    confusion = torch.zeros(17, 17, dtype=torch.int64)
    confusion[3, 3], confusion[3, 10] = 6, 2   # car: 6 right, 2 called road
    confusion[10, 10], confusion[10, 3] = 10, 1  # road: 10 right, 1 called car
    out = iou_from_confusion(confusion)
    car, road = 6 / (8 + 7 - 6), 10 / (11 + 12 - 10)
    assert out['IoU'] == pytest.approx({'car': 100 * car, 'driveable_surface': 100 * road})
    assert out['mIoU'] == pytest.approx(100 * (car + road) / 2)
    assert out['mIoU_things'] == pytest.approx(100 * car)  # road is not an object class
    assert out['aAcc'] == pytest.approx(100 * 16 / 19)


def test_balanced_accuracy_is_the_mean_recall_of_present_classes():
    target = torch.tensor([0, 0, 0, 0, 1, 2, 2])
    pred = torch.tensor([0, 0, 0, 1, 1, 0, 2])
    assert balanced_accuracy(pred, target) == pytest.approx(100 * (0.75 + 1 + 0.5) / 3)
    mask = torch.tensor([True, True, False, False, False, True, True])
    assert balanced_accuracy(pred, target, mask) == pytest.approx(100 * (1 + 0.5) / 2)


def test_fit_linear_converges_to_the_regularised_optimum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 5, generator=g) * torch.tensor([1.0, 3.0, 0.5, 2.0, 1.0]) + 4.0
    y = (x[:, 0] - 4 + 0.3 * (x[:, 1] - 4) > 0).long() + 2 * (x[:, 3] > 5).long()
    model = fit_linear(x, y, num_classes=4, weight_decay=1e-2)
    assert model.grad_max < 1e-4
    # At the optimum of CE + wd/2 |W|^2 on standardised z, d/dW = 0: check it independently.
    mu, sigma = x.double().mean(0), x.double().std(0)
    z = (x.double() - mu) / sigma
    w_z = (model.weight.double() * sigma).requires_grad_()
    b_z = (model.bias.double() + model.weight.double() @ mu).requires_grad_()
    loss = torch.nn.functional.cross_entropy(z @ w_z.T + b_z, y) + 0.5e-2 * w_z.pow(2).sum()
    loss.backward()
    assert w_z.grad.abs().max() < 1e-3 and b_z.grad.abs().max() < 1e-3
    assert (model.logits(x).argmax(1) == y).float().mean() > 0.95
    with pytest.raises(ValueError, match='labels'):
        fit_linear(x, y + 4, num_classes=4)


def test_knn_weighted_vote():
    train = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    test = torch.tensor([[1.0, 0.05], [0.1, 1.0], [0.6, 0.65]])
    pred = knn_predict(train, labels, test, num_classes=2, k=3, temperature=0.07)
    sims = torch.nn.functional.normalize(test, dim=1) @ torch.nn.functional.normalize(
        train, dim=1).T
    votes = torch.stack([(sims[:, :2] / 0.07).exp().sum(1), (sims[:, 2] / 0.07).exp()], 1)
    # the third point is nearer class 1, but two class-0 neighbours outvote it
    assert pred.tolist() == votes.argmax(1).tolist() == [0, 1, 0]


def test_pool_object_tokens_weights_patches_by_pixel_share():
    # 4x8 image, patch 4 -> a 1x2 token grid. Object 0 covers 12 pixels of patch 0 and
    # 4 of patch 1; object 1 covers 2 pixels of patch 1.
    instance = np.full((4, 8), -1, np.int32)
    instance[:3, :4] = 0
    instance[:, 4] = 0
    instance[0, 6:8] = 1
    objects = [dict(label=3, pixels=16, distance=12.0), dict(label=5, pixels=2, distance=40.0)]
    im = _image(np.zeros((4, 8), np.uint8), instance, objects)
    tokens = torch.tensor([[[1.0, 5.0]], [[-2.0, 2.0]]])[None]  # (1, D=2, 1, 2)
    feats, labels, pixels, distance = pool_object_tokens(tokens, [im], patch_size=4)
    w0 = torch.tensor([12 / 16, 4 / 16])
    expect0 = (tokens[0, :, 0] * w0).sum(1) / w0.sum()
    assert torch.allclose(feats[0], expect0)
    assert torch.allclose(feats[1], tokens[0, :, 0, 1])  # only patch 1
    assert labels.tolist() == [3, 5] and pixels.tolist() == [16, 2]
    assert distance.tolist() == [12.0, 40.0]


def test_segmentation_probe_reads_decodable_tokens_perfectly():
    # Labels constant per 4x4 patch, tokens one-hot of the label: a linear probe is exact
    # away from patch borders; with labels equal over 2x2 patch blocks it is exact everywhere
    # except where bilinear upsampling blends two blocks.
    rng = np.random.default_rng(0)
    images, tokens = [], []
    for _ in range(6):
        blocks = rng.choice([3, 10, 16], size=(2, 2))
        grid = np.kron(blocks, np.ones((2, 2), dtype=np.int64))  # 4x4 tokens
        sem = np.kron(grid, np.ones((4, 4), dtype=np.int64)).astype(np.uint8)  # 16x16 px
        images.append(_image(sem))
        onehot = torch.nn.functional.one_hot(torch.from_numpy(grid), 17).permute(2, 0, 1)
        tokens.append(onehot.float())
    tokens = torch.stack(tokens)
    out = segmentation_probe(tokens, images, tokens, images, pixels_per_image=256,
                             keep_predictions=2)
    inner = np.zeros((16, 16), bool)
    inner[2:6, 2:6] = inner[10:14, 10:14] = inner[2:6, 10:14] = inner[10:14, 2:6] = True
    for pred, im in zip(out['predictions'], images):
        assert (pred[inner] == im.semantic[inner]).all()
    assert out['aAcc'] > 90.0
