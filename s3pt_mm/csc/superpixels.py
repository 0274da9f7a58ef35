"""Superpixel sources behind one interface (docs/csc.md §1).

A source maps one image (and, for semantic sources, its semantic map) to

* ``superpixels`` (H, W) int64 ids in ``[0, S)``, and
* ``classes`` (H, W) int64 semantic class per pixel (-1 = none), or None when the source
  carries no semantics (SLIC: the prototype loss must then be off).

CSC's semantic superpixels are the semantic map itself: every class present in an image is
one superpixel (ids = class ids), exactly as the reference stores its ``dinov2_ade20k``
superpixel PNGs. The semantic label space is the segmentation model's (ADE20K in the
reference), *not* the downstream LiDAR classes.
"""
from typing import Callable, Optional, Tuple

import numpy as np

__all__ = ['SuperpixelSource', 'SLICSuperpixels', 'SemanticMapSuperpixels',
           'SegmentationModelSuperpixels', 'build_superpixel_source']

SuperpixelOutput = Tuple[np.ndarray, Optional[np.ndarray]]


class SuperpixelSource:
    """Interface: ``source(image, semantic=None) -> (superpixels, classes | None)``.

    Attributes:
        num_superpixels (int): upper bound S on ids (ids < S), used to size batches.
        has_semantics (bool): whether ``classes`` is returned.
    """

    num_superpixels: int = 0
    has_semantics: bool = False

    def __call__(self, image: np.ndarray, semantic: Optional[np.ndarray] = None
                 ) -> SuperpixelOutput:
        raise NotImplementedError


class SLICSuperpixels(SuperpixelSource):
    """SLIC superpixels (scikit-image), SLidR's setting: 150 segments, compactness 6, sigma 3.

    Args:
        n_segments (int): target number of segments. Defaults to 150.
        compactness (float): SLIC compactness. Defaults to 6.
        sigma (float): Gaussian pre-smoothing. Defaults to 3.0.
    """

    has_semantics = False

    def __init__(self, n_segments: int = 150, compactness: float = 6.0,
                 sigma: float = 3.0) -> None:
        self.n_segments, self.compactness, self.sigma = n_segments, compactness, sigma
        # SLIC may return a few more labels than asked for; ids beyond the bound are merged.
        self.num_superpixels = int(n_segments) * 2

    def __call__(self, image: np.ndarray, semantic: Optional[np.ndarray] = None
                 ) -> SuperpixelOutput:
        """Args: image (H, W, 3) uint8 RGB. Returns: ((H, W) int64 ids, None)."""
        from skimage.segmentation import slic
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'SLIC needs an (H, W, 3) image, got {image.shape}')
        sp = slic(image, n_segments=self.n_segments, compactness=self.compactness,
                  sigma=self.sigma, start_label=0).astype(np.int64)
        return np.minimum(sp, self.num_superpixels - 1), None


class SemanticMapSuperpixels(SuperpixelSource):
    """Superpixels from a semantic map: one superpixel per class present (CSC's).

    Args:
        num_classes (int): size of the semantic label space; pixels outside
            ``[0, num_classes)`` (e.g. 255 = ignore) get class -1 and superpixel id
            ``num_classes`` (one extra "unlabelled" superpixel that L_pro ignores).
        label_map (Optional[Callable | str]): applied to the raw map first; the name
            ``'synthetic_2d'`` selects :func:`s3pt_mm.csc.label_spaces.to_synthetic_2d`.
    """

    has_semantics = True

    def __init__(self, num_classes: int, label_map: Optional[Callable] = None) -> None:
        self.num_classes = int(num_classes)
        self.num_superpixels = self.num_classes + 1
        if isinstance(label_map, str):
            from .label_spaces import LABEL_MAPS
            if label_map not in LABEL_MAPS:
                raise ValueError(f'unknown label_map {label_map!r}; known: {list(LABEL_MAPS)}')
            label_map = LABEL_MAPS[label_map]
        self.label_map = label_map

    def __call__(self, image: Optional[np.ndarray], semantic: Optional[np.ndarray] = None
                 ) -> SuperpixelOutput:
        """Args: semantic (H, W) int class map (required). Returns: (ids, classes)."""
        if semantic is None:
            raise ValueError('SemanticMapSuperpixels needs the semantic map of the image')
        sem = np.asarray(semantic).astype(np.int64)
        if self.label_map is not None:
            sem = np.asarray(self.label_map(sem)).astype(np.int64)
        valid = (sem >= 0) & (sem < self.num_classes)
        classes = np.where(valid, sem, -1)
        return np.where(valid, sem, self.num_classes), classes


class SegmentationModelSuperpixels(SemanticMapSuperpixels):
    """Semantic superpixels predicted by an mmseg model (a user's model, or our Segmenter).

    Args:
        config (str): mmseg config file of the model.
        checkpoint (Optional[str]): its weights (None: random init, for tests only).
        device (str): inference device. Defaults to 'cpu'.
        num_classes (Optional[int]): label space size; None = the decode head's.
    """

    def __init__(self, config: str, checkpoint: Optional[str] = None, device: str = 'cpu',
                 num_classes: Optional[int] = None) -> None:
        from mmseg.apis import init_model
        self.model = init_model(config, checkpoint, device=device)
        n = num_classes or self.model.decode_head.num_classes
        super().__init__(num_classes=n)

    def __call__(self, image: np.ndarray, semantic: Optional[np.ndarray] = None
                 ) -> SuperpixelOutput:
        """Args: image (H, W, 3) uint8 RGB (``semantic`` is ignored)."""
        from mmseg.apis import inference_model
        result = inference_model(self.model, image[..., ::-1].copy())  # mmseg expects BGR
        pred = result.pred_sem_seg.data[0].cpu().numpy()
        return super().__call__(image, pred)


def build_superpixel_source(cfg: dict) -> SuperpixelSource:
    """Build a source from ``dict(type='slic' | 'semantic' | 'mmseg', **kwargs)``."""
    cfg = dict(cfg)
    kind = cfg.pop('type')
    types = {'slic': SLICSuperpixels, 'semantic': SemanticMapSuperpixels,
             'mmseg': SegmentationModelSuperpixels}
    if kind not in types:
        raise ValueError(f'unknown superpixel source {kind!r}; expected one of {list(types)}')
    return types[kind](**cfg)
