"""Frozen-backbone probes: a linear segmentation probe and an object-level probe.

Both read the last-layer patch tokens (after the final norm) of a frozen ViT run on the whole
camera image (its size a multiple of the patch size; the position embedding is interpolated by
mmpretrain's ViT).

* **Segmentation** (Segmenter's linear decoder): per-token logits ``W f + b``, bilinearly
  upsampled to the label map (``align_corners=False``), arg-max. Training uses a fixed random
  subset of pixels per image; the bilinear upsampling is linear, so the logits at a pixel are
  ``W`` applied to the bilinearly interpolated features there, i.e. training on interpolated
  features of sampled pixels trains exactly the decoder that is evaluated on whole images.
  The head is fitted to convergence with full-batch L-BFGS (cross-entropy + L2), not a fixed
  number of SGD steps. Reported: mIoU over the classes present in the evaluation labels, and
  the mIoU of the object ("thing") classes alone.
* **Object level**: every annotated road user visible in an image gets one feature, the mean
  of the patch tokens weighted by the fraction of each patch its pixels cover (objects smaller
  than a patch keep their share of the patch they touch). Two classifiers on these features,
  train-scene objects -> val-scene objects: a class-balanced linear classifier fitted to
  convergence (L-BFGS), and cosine k-NN (DINO's weighted vote, k = 10, T = 0.07). Reported:
  balanced accuracy (the mean per-class recall: the classes are long-tailed), also for the
  objects smaller than one patch and those farther than 30 m.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..synthetic.classes import SEMANTIC_CLASSES
from .scenes import OBJECT_CLASSES, ProbeImage

#: Semantic ids of the object ("thing") classes: barrier .. truck (nuScenes-lidarseg 0-9).
THING_IDS = tuple(range(10))


@torch.no_grad()
def extract_patch_tokens(backbone: nn.Module, images: Sequence[np.ndarray], mean: Sequence[float],
                         std: Sequence[float], patch_size: int, batch_size: int = 16) -> Tensor:
    """Patch tokens of a frozen ViT on whole images.

    Args:
        backbone (nn.Module): an ``mmpretrain.VisionTransformer`` with ``out_type='raw'``.
        images (Sequence[np.ndarray]): (H, W, 3) uint8 RGB images of one size.
        mean (Sequence[float]): RGB normalisation mean (the pre-training data preprocessor's).
        std (Sequence[float]): RGB normalisation std.
        patch_size (int): the backbone's patch size; H and W must be multiples of it.
        batch_size (int): images per forward pass. Defaults to 16.

    Returns:
        Tensor: (N, D, H / p, W / p) float32 tokens.

    Raises:
        ValueError: if the images differ in size or are not multiples of the patch size.
    """
    height, width = images[0].shape[:2]
    if height % patch_size or width % patch_size:
        raise ValueError(f'image size {width}x{height} is not a multiple of the patch size '
                         f'{patch_size}')
    was_training = backbone.training
    backbone.eval()
    mean_t = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    grid = (height // patch_size, width // patch_size)
    out = []
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        for i, img in enumerate(chunk):
            if img.shape != (height, width, 3):
                raise ValueError(f'image {start + i} has shape {img.shape}, expected '
                                 f'{(height, width, 3)}')
        x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float()
        tokens = backbone((x - mean_t) / std_t)[-1]
        if tokens.dim() != 3 or tokens.shape[1] != 1 + grid[0] * grid[1]:
            raise ValueError(f'backbone returned {tuple(tokens.shape)}, expected (B, 1 + '
                             f'{grid[0] * grid[1]}, D) raw tokens (out_type="raw")')
        out.append(tokens[:, 1:].transpose(1, 2).reshape(len(chunk), -1, *grid))
    backbone.train(was_training)
    return torch.cat(out)


@dataclass
class LinearModel:
    """A fitted linear classifier in the original feature space: ``x @ weight.T + bias``."""

    weight: Tensor  # (C, D)
    bias: Tensor  # (C,)
    iterations: int
    grad_max: float

    def logits(self, x: Tensor) -> Tensor:
        return x @ self.weight.T + self.bias


def fit_linear(x: Tensor, y: Tensor, num_classes: int, weight_decay: float = 1e-4,
               class_weight: Optional[Tensor] = None, max_iter: int = 500,
               tolerance_grad: float = 1e-6) -> LinearModel:
    """Multinomial logistic regression fitted to convergence with full-batch L-BFGS.

    Minimises ``CE(z W^T + b, y; class_weight) + weight_decay / 2 * ||W||^2`` on standardised
    features ``z = (x - mu) / sigma`` and folds the standardisation back into ``W`` and ``b``.

    Args:
        x (Tensor): (N, D) features.
        y (Tensor): (N,) int64 labels in [0, num_classes).
        num_classes (int): C.
        weight_decay (float): L2 weight. Defaults to 1e-4.
        class_weight (Tensor, optional): (C,) cross-entropy weights.
        max_iter (int): L-BFGS iteration cap. Defaults to 500.
        tolerance_grad (float): stop when every gradient entry is below this. Defaults to 1e-6.

    Returns:
        LinearModel: the classifier, L-BFGS iterations used, and the final max |gradient|.

    Raises:
        ValueError: on empty input or labels out of range.
    """
    if len(x) == 0:
        raise ValueError('fit_linear needs at least one sample')
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise ValueError(f'labels must be in [0, {num_classes}), got [{int(y.min())}, '
                         f'{int(y.max())}]')
    x = x.double()
    mu, sigma = x.mean(0), x.std(0).clamp_min(1e-6)
    z = (x - mu) / sigma
    weight = torch.zeros(num_classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    cw = class_weight.double() if class_weight is not None else None
    optimizer = torch.optim.LBFGS([weight, bias], lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=tolerance_grad, tolerance_change=1e-12,
                                  line_search_fn='strong_wolfe')

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight.T + bias, y, weight=cw) + \
            0.5 * weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    closure()
    grad_max = float(max(weight.grad.abs().max(), bias.grad.abs().max()))
    iterations = int(optimizer.state[optimizer._params[0]]['n_iter'])
    with torch.no_grad():
        w = weight / sigma
        b = bias - w @ mu
    return LinearModel(weight=w.float(), bias=b.float(), iterations=iterations,
                       grad_max=grad_max)


def sample_pixels(images: Sequence[ProbeImage], per_image: int, seed: int = 0
                  ) -> List[np.ndarray]:
    """A fixed random subset of pixel indices per image (the same for every backbone)."""
    rng = np.random.default_rng(seed)
    out = []
    for im in images:
        n = im.semantic.size
        out.append(rng.choice(n, size=min(per_image, n), replace=False))
    return out


def _upsample(tokens: Tensor, size: Tuple[int, int]) -> Tensor:
    return F.interpolate(tokens, size=size, mode='bilinear', align_corners=False)


def segmentation_probe(train_tokens: Tensor, train_images: Sequence[ProbeImage],
                       val_tokens: Tensor, val_images: Sequence[ProbeImage],
                       pixels_per_image: int = 2048, weight_decay: float = 1e-4,
                       keep_predictions: int = 0) -> dict:
    """Fit the linear segmentation probe on ``train_*`` and evaluate it on ``val_*``.

    Args:
        train_tokens (Tensor): (N, D, h, w) patch tokens of the training images.
        train_images (Sequence[ProbeImage]): their labels.
        val_tokens (Tensor): (M, D, h, w) tokens of the evaluation images.
        val_images (Sequence[ProbeImage]): their labels.
        pixels_per_image (int): training pixels sampled per image. Defaults to 2048.
        weight_decay (float): L2 weight of the head. Defaults to 1e-4.
        keep_predictions (int): return the predicted label maps of the first this many
            evaluation images. Defaults to 0.

    Returns:
        dict: ``mIoU`` and ``mIoU_things`` (percent), ``IoU`` per class name, ``aAcc``,
        ``iterations``, ``grad_max`` and, with ``keep_predictions``, ``predictions``.
    """
    num_classes = len(SEMANTIC_CLASSES)
    size = train_images[0].semantic.shape
    feats, labels = [], []
    for tokens, im, idx in zip(train_tokens, train_images,
                               sample_pixels(train_images, pixels_per_image)):
        up = _upsample(tokens[None], size)[0].flatten(1)  # (D, H*W)
        feats.append(up[:, idx].T)
        labels.append(torch.from_numpy(im.semantic.reshape(-1)[idx].astype(np.int64)))
    model = fit_linear(torch.cat(feats), torch.cat(labels), num_classes, weight_decay)
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
    predictions = []
    for i, (tokens, im) in enumerate(zip(val_tokens, val_images)):
        logits = torch.einsum('cd,dhw->chw', model.weight, tokens) + model.bias[:, None, None]
        pred = _upsample(logits[None], im.semantic.shape)[0].argmax(0)
        gt = torch.from_numpy(im.semantic.astype(np.int64))
        confusion += torch.bincount(gt.reshape(-1) * num_classes + pred.reshape(-1),
                                    minlength=num_classes ** 2).view(num_classes, num_classes)
        if i < keep_predictions:
            predictions.append(pred.numpy().astype(np.uint8))
    result = iou_from_confusion(confusion)
    result.update(iterations=model.iterations, grad_max=model.grad_max)
    if keep_predictions:
        result['predictions'] = predictions
    return result


def iou_from_confusion(confusion: Tensor) -> dict:
    """Per-class IoU, mIoU over the classes present in the labels, things mIoU, pixel accuracy.

    Args:
        confusion (Tensor): (C, C) counts, rows = ground truth, columns = prediction.

    Returns:
        dict: ``IoU`` (class name -> percent, present classes only), ``mIoU``,
        ``mIoU_things``, ``aAcc`` (percent).
    """
    confusion = confusion.double()
    tp = confusion.diag()
    gt, pred = confusion.sum(1), confusion.sum(0)
    iou = tp / (gt + pred - tp).clamp_min(1)
    present = gt > 0
    names = [c.name for c in SEMANTIC_CLASSES]
    per_class = {names[i]: 100 * float(iou[i]) for i in range(len(names)) if present[i]}
    things = [i for i in THING_IDS if present[i]]
    return dict(IoU=per_class, mIoU=100 * float(iou[present].mean()),
                mIoU_things=100 * float(iou[things].mean()) if things else float('nan'),
                aAcc=100 * float(tp.sum() / confusion.sum()))


def pool_object_tokens(tokens: Tensor, images: Sequence[ProbeImage], patch_size: int
                       ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """One feature per annotated object: patch tokens weighted by the object's pixel share.

    Args:
        tokens (Tensor): (N, D, h, w) patch tokens of ``images``.
        images (Sequence[ProbeImage]): the images with their instance maps.
        patch_size (int): pixels per token side.

    Returns:
        Tuple[Tensor, Tensor, Tensor, Tensor]: (M, D) features, (M,) labels, (M,) visible
        pixel counts, (M,) distances in metres.
    """
    feats, labels, pixels, distance = [], [], [], []
    for tok, im in zip(tokens, images):
        if not im.objects:
            continue
        inst = torch.from_numpy(im.instance.astype(np.int64))
        masks = (inst[None] == torch.arange(len(im.objects))[:, None, None]).float()
        share = F.avg_pool2d(masks[:, None], patch_size)[:, 0]  # (O, h, w)
        pooled = torch.einsum('ohw,dhw->od', share, tok) / share.flatten(1).sum(1)[:, None]
        feats.append(pooled)
        labels += [o['label'] for o in im.objects]
        pixels += [o['pixels'] for o in im.objects]
        distance += [o['distance'] for o in im.objects]
    return (torch.cat(feats), torch.tensor(labels, dtype=torch.int64),
            torch.tensor(pixels, dtype=torch.int64), torch.tensor(distance))


def balanced_accuracy(pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> float:
    """Mean per-class recall (percent) over the classes present in ``target[mask]``."""
    if mask is not None:
        pred, target = pred[mask], target[mask]
    if len(target) == 0:
        return float('nan')
    recalls = [float((pred[target == c] == c).float().mean()) for c in target.unique()]
    return 100 * float(np.mean(recalls))


def knn_predict(train_x: Tensor, train_y: Tensor, test_x: Tensor, num_classes: int,
                k: int = 10, temperature: float = 0.07) -> Tensor:
    """DINO's weighted k-NN vote on cosine similarity (weights ``exp(sim / T)``)."""
    a = F.normalize(train_x, dim=1)
    b = F.normalize(test_x, dim=1)
    sim, idx = (b @ a.T).topk(min(k, len(a)), dim=1)
    votes = torch.zeros(len(b), num_classes)
    votes.scatter_add_(1, train_y[idx], (sim / temperature).exp())
    return votes.argmax(1)


def object_probe(train_tokens: Tensor, train_images: Sequence[ProbeImage], val_tokens: Tensor,
                 val_images: Sequence[ProbeImage], patch_size: int,
                 weight_decay: float = 1e-3) -> Dict[str, float]:
    """Classify annotated objects of the val scenes from pooled patch tokens.

    Returns:
        Dict[str, float]: ``linear`` and ``knn`` balanced accuracy (percent), the linear one
        also on ``linear_small`` (objects under one patch of pixels) and ``linear_far``
        (farther than 30 m), ``iterations`` of L-BFGS, and object counts.
    """
    num_classes = len(OBJECT_CLASSES)
    x_tr, y_tr, _, _ = pool_object_tokens(train_tokens, train_images, patch_size)
    x_te, y_te, px_te, dist_te = pool_object_tokens(val_tokens, val_images, patch_size)
    counts = torch.bincount(y_tr, minlength=num_classes).double()
    class_weight = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp_min(1)),
                               torch.zeros_like(counts))
    model = fit_linear(x_tr, y_tr, num_classes, weight_decay, class_weight=class_weight)
    pred = model.logits(x_te).argmax(1)
    knn = knn_predict(x_tr, y_tr, x_te, num_classes)
    return dict(linear=balanced_accuracy(pred, y_te), knn=balanced_accuracy(knn, y_te),
                linear_small=balanced_accuracy(pred, y_te, px_te < patch_size ** 2),
                linear_far=balanced_accuracy(pred, y_te, dist_te > 30.0),
                iterations=model.iterations, num_train=len(y_tr), num_val=len(y_te))
