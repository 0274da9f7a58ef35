"""Multi-crop views that carry per-token positions and depths (docs/method.md §1)."""
import copy
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform, Compose
from mmengine.registry import DefaultScope
from mmpretrain.registry import TRANSFORMS
from PIL import Image

from s3pt_mm.datasets.sample_seed import augmentation_key, sample_random_state
from s3pt_mm.datasets.view_geometry import (CropBox, crop_depth_nearest, sample_crop_box,
                                            token_depths, token_positions)
from .sample_context import describe_sample

# DINO / BYOL photometric recipe (mmpretrain transforms; the image is BGR like mmcv loads it,
# hence the BGR grey weights).
_JITTER = dict(type='RandomApply', prob=0.8, transforms=[
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1)])
_GRAYSCALE = dict(type='RandomGrayscale', prob=0.2, keep_channels=True,
                  channel_weights=(0.114, 0.587, 0.2989))


def _blur(prob: float) -> dict:
    return dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf', prob=prob)


#: Global view 1: jitter p=0.8, grayscale p=0.2, blur p=1.0; view 2: blur p=0.1, solarize p=0.2.
DINO_GLOBAL_PHOTOMETRIC = (
    [_JITTER, _GRAYSCALE, _blur(1.0)],
    [_JITTER, _GRAYSCALE, _blur(0.1), dict(type='Solarize', thr=128, prob=0.2)],
)
#: Local views (DINO): jitter p=0.8, grayscale p=0.2, blur p=0.5.
DINO_LOCAL_PHOTOMETRIC = [_JITTER, _GRAYSCALE, _blur(0.5)]

_CV2_INTERPOLATION = {
    # INTER_NEAREST_EXACT samples the pixel containing each output centre like Pillow's
    # NEAREST; plain INTER_NEAREST is shifted by half an output pixel.
    'nearest': cv2.INTER_NEAREST_EXACT, 'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC, 'area': cv2.INTER_AREA, 'lanczos': cv2.INTER_LANCZOS4}
_PIL_INTERPOLATION = {
    'nearest': Image.NEAREST, 'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC,
    'area': Image.BOX, 'lanczos': Image.LANCZOS}


@TRANSFORMS.register_module()
class MultiCropWithDepth(BaseTransform):
    """DINO-style multi-crop whose global views carry token positions and token depths.

    For every view one crop box, flip and resize is drawn (RandomResizedCrop: area fraction
    in ``*_crop_scale``, aspect ratio in ``aspect_ratio_range``, horizontal flip with
    ``flip_prob``) and applied to the image, the position map and the depth map alike
    (:mod:`s3pt_mm.datasets.view_geometry`):

    - image: resized with ``interpolation`` / ``backend``, then flipped, then the view's
      photometric sub-pipeline (mmpretrain transforms; they touch only the image);
    - positions: exact, from the crop box in closed form (no resampled map): each token's
      ``(x, y)`` is the mean of its patch's pixel centres in original-image pixels
      (original pixel ``(i, j)`` centred on ``(j, i)``, the convention of the intrinsics and
      of projected LiDAR points);
    - depth (global views, ``with_depth``): **nearest-neighbour** resize, so no view pixel
      blends depths across an object edge; a token's depth is the mean of its patch's pixels
      with depth > ``min_depth`` (0 and invalid if none).

    Views are ordered global first, then local. Local views carry no depth (docs/method.md §1:
    DINO's local crops; S3PT and CrIBo use none).

    Randomness: when ``sample_idx`` is a :class:`~s3pt_mm.datasets.sample_seed.SampleIndex`
    (``EpochSeededSampler``), every draw of the sample (crop boxes, flips and the photometric
    sub-pipelines) comes from a state seeded by ``(seed, epoch, sample index)``, so a sample's
    views do not depend on the worker count, worker persistence or a resume (docs/resuming.md).
    Otherwise the draws come from the global ``numpy.random`` state.

    **Required Keys:**

    - img (np.ndarray): (H, W, 3) uint8 BGR image.
    - depth (np.ndarray): (H, W) depth, 0 = none; only with ``with_depth``. Float metres, or
      integer units of ``depth_scale`` metres (converted per view).
    - depth_scale (float, optional): metres per unit of ``depth``. Defaults to 1.0.

    **Modified Keys:**

    - img: list of V views, (S, S, 3) uint8 each (S = global then local crop size).
    - img_shape: (S, S) of the global views.

    **Added Keys:**

    - token_pos (Tensor): (Vg, N, 2) float32 token (x, y), original-image pixels,
      N = (S / p)^2 in row-major patch order.
    - token_depth (Tensor): (Vg, N) float32 metres, 0 where invalid (``with_depth``).
    - token_depth_valid (Tensor): (Vg, N) bool (``with_depth``).
    - local_token_pos (Tensor): (Vl, Nl, 2) float32 (only with local crops).
    - view_depth (np.ndarray): (Vg, S, S) float32 depth of the global views (``with_depth``).
    - crop_boxes (Tensor): (V, 4) int64 ``(x0, y0, x1, y1)`` crop of each view (x1, y1
      exclusive), original-image pixels.
    - crop_flips (Tensor): (V,) bool, view mirrored left-right.

    Args:
        num_global_crops (int): Vg. Defaults to 2.
        global_crop_size (int): S of the global views. Defaults to 224.
        global_crop_scale (Tuple[float, float]): area fraction range of global crops.
            Defaults to (0.25, 1.0) (docs/method.md §1: ViT-S; ViT-B uses (0.32, 1.0)).
        num_local_crops (int): Vl. Defaults to 0 (DINO baseline: 10).
        local_crop_size (int): S of the local views. Defaults to 96.
        local_crop_scale (Tuple[float, float]): area fraction range of local crops.
            Defaults to (0.05, 0.25).
        aspect_ratio_range (Tuple[float, float]): crop width / height range.
            Defaults to (3/4, 4/3).
        flip_prob (float): probability of a horizontal flip per view. Defaults to 0.5.
        interpolation (str): image resize filter: 'nearest', 'bilinear', 'bicubic', 'area'
            or 'lanczos'. Defaults to 'bicubic' (DINO's torchvision recipe).
        backend (str): 'pillow' (antialiased, like torchvision's PIL path) or 'cv2' (faster,
            aliases when shrinking unless ``interpolation='area'``). Defaults to 'pillow'.
        global_photometric (Sequence[List[dict]], optional): one list of mmpretrain transform
            configs per global view. Defaults to :data:`DINO_GLOBAL_PHOTOMETRIC`.
        local_photometric (List[dict], optional): transform configs for every local view.
            Defaults to :data:`DINO_LOCAL_PHOTOMETRIC`.
        with_depth (bool): carry depth (S3PT). False for DINO / CrIBo: no ``depth`` needed,
            no depth keys emitted. Defaults to True.
        patch_size (int): ViT patch size p; crop sizes must be multiples of it.
            Defaults to 16.
        min_depth (float): depth validity threshold, metres. Defaults to 0.1.
    """

    def __init__(self,
                 num_global_crops: int = 2,
                 global_crop_size: int = 224,
                 global_crop_scale: Tuple[float, float] = (0.25, 1.0),
                 num_local_crops: int = 0,
                 local_crop_size: int = 96,
                 local_crop_scale: Tuple[float, float] = (0.05, 0.25),
                 aspect_ratio_range: Tuple[float, float] = (3 / 4, 4 / 3),
                 flip_prob: float = 0.5,
                 interpolation: str = 'bicubic',
                 backend: str = 'pillow',
                 global_photometric: Optional[Sequence[List[dict]]] = None,
                 local_photometric: Optional[List[dict]] = None,
                 with_depth: bool = True,
                 patch_size: int = 16,
                 min_depth: float = 0.1) -> None:
        if num_global_crops < 1 or num_local_crops < 0:
            raise ValueError(f'need num_global_crops >= 1 and num_local_crops >= 0, got '
                             f'{num_global_crops} and {num_local_crops}')
        for name, size in (('global_crop_size', global_crop_size),
                           ('local_crop_size', local_crop_size)):
            if name == 'local_crop_size' and num_local_crops == 0:
                continue
            if size < 1 or size % patch_size:
                raise ValueError(f'{name} {size} must be a positive multiple of patch_size '
                                 f'{patch_size}')
        for name, rng in (('global_crop_scale', global_crop_scale),
                          ('local_crop_scale', local_crop_scale),
                          ('aspect_ratio_range', aspect_ratio_range)):
            if len(rng) != 2 or not 0 < rng[0] <= rng[1]:
                raise ValueError(f'{name} must be (low, high) with 0 < low <= high, got {rng}')
        if not 0 <= flip_prob <= 1:
            raise ValueError(f'flip_prob must be in [0, 1], got {flip_prob}')
        if backend not in ('pillow', 'cv2'):
            raise ValueError(f"backend must be 'pillow' or 'cv2', got {backend!r}")
        if interpolation not in _CV2_INTERPOLATION:
            raise ValueError(f'interpolation must be one of {sorted(_CV2_INTERPOLATION)}, '
                             f'got {interpolation!r}')
        if global_photometric is None:
            global_photometric = DINO_GLOBAL_PHOTOMETRIC[:num_global_crops]
            if num_global_crops > len(DINO_GLOBAL_PHOTOMETRIC):
                raise ValueError(f'the default photometric recipe covers '
                                 f'{len(DINO_GLOBAL_PHOTOMETRIC)} global views; pass '
                                 f'global_photometric for {num_global_crops}')
        if len(global_photometric) != num_global_crops:
            raise ValueError(f'global_photometric needs one transform list per global view '
                             f'({num_global_crops}), got {len(global_photometric)}')
        self.num_global_crops = num_global_crops
        self.global_crop_size = global_crop_size
        self.global_crop_scale = tuple(global_crop_scale)
        self.num_local_crops = num_local_crops
        self.local_crop_size = local_crop_size
        self.local_crop_scale = tuple(local_crop_scale)
        self.aspect_ratio_range = tuple(aspect_ratio_range)
        self.flip_prob = flip_prob
        self.interpolation = interpolation
        self.backend = backend
        self.with_depth = with_depth
        self.patch_size = patch_size
        self.min_depth = min_depth
        self.global_photometric = [_build_pipeline(t) for t in global_photometric]
        self.local_photometric = _build_pipeline(
            DINO_LOCAL_PHOTOMETRIC if local_photometric is None else local_photometric)

    def _draw_box(self, height: int, width: int, size: int,
                  scale: Tuple[float, float]) -> CropBox:
        x0, y0, w, h = sample_crop_box(height, width, scale, self.aspect_ratio_range)
        flip = bool(np.random.rand() < self.flip_prob)
        return CropBox(x0, y0, w, h, size, size, flip)

    def _resize_image(self, img: np.ndarray, pil: Optional[Image.Image],
                      box: CropBox) -> np.ndarray:
        size = (box.out_width, box.out_height)
        if pil is not None:
            view = np.asarray(pil.resize(size, _PIL_INTERPOLATION[self.interpolation],
                                         box=box.as_xyxy()))
        else:
            x0, y0, x1, y1 = box.as_xyxy()
            view = cv2.resize(img[y0:y1, x0:x1], size,
                              interpolation=_CV2_INTERPOLATION[self.interpolation])
        if box.flip:
            view = view[:, ::-1]
        return np.ascontiguousarray(view)

    def transform(self, results: dict) -> dict:
        """Replace ``img`` by the list of views and add the token keys.

        Raises:
            KeyError: if ``img`` is missing, or ``depth`` with ``with_depth``.
            ValueError: if the image is not (H, W, 3) uint8 or the depth map is not (H, W).
        """
        where = describe_sample(results)
        if 'img' not in results:
            raise KeyError(f'{where}: no img (load it with LoadImageFromFile first)')
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f'{where}: img must be (H, W, 3) uint8, got {img.shape} '
                             f'{img.dtype}')
        height, width = img.shape[:2]
        depth = None
        if self.with_depth:
            if results.get('depth') is None:
                raise KeyError(f'{where}: no depth map (add LoadPrecomputedDepth or '
                               'LoadLidarPoints/ProjectLidarToDepth/CompleteDepth before '
                               'this transform, or set with_depth=False)')
            depth = results['depth']
            if depth.shape != (height, width):
                raise ValueError(f'{where}: depth map {depth.shape} and image '
                                 f'{(height, width)} differ in size')
        # Pillow: convert the full image once and resize straight from the crop box.
        pil = Image.fromarray(img) if self.backend == 'pillow' else None

        # Every random draw of this sample, photometric transforms included, happens here.
        with sample_random_state(augmentation_key(results)):
            boxes = [self._draw_box(height, width, self.global_crop_size,
                                    self.global_crop_scale)
                     for _ in range(self.num_global_crops)]
            boxes += [self._draw_box(height, width, self.local_crop_size, self.local_crop_scale)
                      for _ in range(self.num_local_crops)]
            pipelines = (self.global_photometric +
                         [self.local_photometric] * self.num_local_crops)
            views = [pipe(dict(img=self._resize_image(img, pil, box)))['img']
                     for box, pipe in zip(boxes, pipelines)]

        global_boxes = boxes[:self.num_global_crops]
        results['token_pos'] = torch.from_numpy(
            np.stack([token_positions(b, self.patch_size) for b in global_boxes]))
        if self.num_local_crops:
            results['local_token_pos'] = torch.from_numpy(np.stack(
                [token_positions(b, self.patch_size) for b in boxes[self.num_global_crops:]]))
        if depth is not None:
            view_depth = np.stack([crop_depth_nearest(depth, b) for b in global_boxes])
            # Integer maps (LoadPrecomputedDepth's centimetres) become metres per view only.
            scale = np.float32(results.get('depth_scale', 1.0))
            if view_depth.dtype != np.float32 or scale != 1:
                view_depth = view_depth.astype(np.float32) * scale
            pooled = [token_depths(d, self.patch_size, self.min_depth) for d in view_depth]
            results['view_depth'] = view_depth
            results['token_depth'] = torch.from_numpy(np.stack([d for d, _ in pooled]))
            results['token_depth_valid'] = torch.from_numpy(np.stack([v for _, v in pooled]))
        results['crop_boxes'] = torch.tensor([b.as_xyxy() for b in boxes], dtype=torch.int64)
        results['crop_flips'] = torch.tensor([b.flip for b in boxes], dtype=torch.bool)
        results['img'] = views
        results['img_shape'] = (self.global_crop_size, self.global_crop_size)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_global_crops={self.num_global_crops}, '
                f'global_crop_size={self.global_crop_size}, '
                f'global_crop_scale={self.global_crop_scale}, '
                f'num_local_crops={self.num_local_crops}, '
                f'local_crop_size={self.local_crop_size}, '
                f'local_crop_scale={self.local_crop_scale}, flip_prob={self.flip_prob}, '
                f'interpolation={self.interpolation!r}, backend={self.backend!r}, '
                f'with_depth={self.with_depth}, patch_size={self.patch_size})')


def _build_pipeline(transforms: Sequence[dict]) -> Compose:
    """Build mmpretrain transforms (nested wrappers such as RandomApply included).

    mmcv's wrappers build their children from the registry of the current default scope, so
    the build runs inside the ``mmpretrain`` scope whatever scope the caller has.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return Compose([TRANSFORMS.build(copy.deepcopy(t)) if isinstance(t, dict) else t
                        for t in transforms])
