"""Masks from a semantic segmentation model of this package (e.g. the S3PT ViT with a Segmenter
head) split into instances by connected components."""
from typing import List, Optional, Sequence

import cv2
import numpy as np

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample

from ..lifting import SHAPE_PRIORS
from .base import InstanceMask, MaskSource


def connected_instances(labels: np.ndarray, class_ids: Sequence[int], min_pixels: int = 1,
                        connectivity: int = 8) -> List[tuple]:
    """Split a semantic label map into per-class connected components.

    Args:
        labels (np.ndarray): (H, W) integer class map.
        class_ids (Sequence[int]): the classes to split (others are background).
        min_pixels (int): drop components smaller than this. Defaults to 1.
        connectivity (int): 4 or 8. Defaults to 8.

    Returns:
        List[tuple]: ``(class_id, mask (H, W) bool)`` per component, by class then by
        OpenCV's component order (row-major first pixel).
    """
    out = []
    for cid in class_ids:
        binary = (labels == cid).astype(np.uint8)
        if not binary.any():
            continue
        num, comp = cv2.connectedComponents(binary, connectivity=connectivity)
        for k in range(1, num):
            mask = comp == k
            if int(mask.sum()) >= min_pixels:
                out.append((int(cid), mask))
    return out


class SegmentationMaskSource(MaskSource):
    """Instances = connected components of a segmentation model's object classes.

    The model is built with mmseg's ``init_model`` from a config (and a checkpoint; None keeps
    the random initialisation, for tests). Classes whose names are detection classes with a
    size prior (``car``, ``pedestrian``, ...; the synthetic / nuImages label spaces use these
    names) are split into 8-connected components; each component's score is the mean softmax
    probability of its class over its pixels.

    Args:
        config (str | Config): mmseg config of the model.
        checkpoint (Optional[str]): weights; None = random initialisation.
        device (str): inference device. Defaults to 'cpu'.
        min_pixels (int): smallest component kept. Defaults to 20.
        classes (Optional[Sequence[str]]): class names of the model's outputs (default: the
            model's ``dataset_meta['classes']``).
    """

    def __init__(self, config, checkpoint: Optional[str] = None, device: str = 'cpu',
                 min_pixels: int = 20, classes: Optional[Sequence[str]] = None) -> None:
        if config is None:
            raise ValueError('the segmentation mask source needs an mmseg config (--seg-config)')
        from mmseg.apis import init_model
        self.model = init_model(config, checkpoint, device=device)
        names = classes or (self.model.dataset_meta or {}).get('classes')
        if not names:
            raise ValueError('the segmentation model has no class names: pass classes=...')
        self.classes = list(names)
        self.object_ids = [i for i, n in enumerate(self.classes) if n in SHAPE_PRIORS]
        self.min_pixels = int(min_pixels)

    def predict(self, image_path: str):
        """Class map (H, W) and class probabilities (C, H, W) of one image."""
        import torch
        from mmseg.apis import inference_model
        result = inference_model(self.model, image_path)
        labels = result.pred_sem_seg.data[0].cpu().numpy()
        probs = torch.softmax(result.seg_logits.data.float(), dim=0).cpu().numpy()
        return labels, probs

    def masks(self, sample: NuScenesSample) -> List[InstanceMask]:
        """Masks of every camera of ``sample`` (see :class:`MaskSource`)."""
        out = []
        for cam, camera in sample.cameras.items():
            labels, probs = self.predict(camera.img_path)
            for cid, mask in connected_instances(labels, self.object_ids, self.min_pixels):
                out.append(InstanceMask(camera=cam, mask=mask, label=self.classes[cid],
                                        score=float(probs[cid][mask].mean()),
                                        scale=labels.shape[1] / _image_width(camera.img_path)))
        return out


def _image_width(path: str) -> int:
    from PIL import Image
    with Image.open(path) as img:
        return img.size[0]
