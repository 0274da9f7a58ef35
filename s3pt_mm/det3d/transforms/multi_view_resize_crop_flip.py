"""Resize, crop and flip every camera view, keeping ``cam2img`` / ``lidar2img`` consistent."""
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ..geometry import image_aug_matrix, to_homogeneous_4x4


@TRANSFORMS.register_module()
class MultiViewResizeCropFlip(BaseTransform):
    """PETR's image augmentation, folded into each view's projection matrices.

    One draw per sample, shared by all views (official PETR's ``ResizeCropFlipImage``;
    ``per_view=True`` draws per view instead): resize by
    ``r = r_fit * s`` where ``r_fit = max(H_out / H, W_out / W)`` is the scale at which the image
    just covers the output and ``s ~ U(scale_range)``; crop an ``(H_out, W_out)`` window whose
    bottom edge sits ``b ~ U(bottom_crop_range)`` of the resized height above the bottom (the
    sky is cut first) at a uniform horizontal position; mirror it with probability
    ``flip_prob``. Parts of the window outside the resized image are zero. The pixel map of the
    three steps (:func:`~s3pt_mm.det3d.geometry.image_aug_matrix`) is composed into ``cam2img``
    and ``lidar2img = cam2img @ lidar2cam``, so a LiDAR point still projects onto the pixel that
    shows it; the 3D boxes do not change. At test time (``test_mode=True``) ``s = 1``, ``b`` is
    the mean of ``bottom_crop_range``, the window is centred horizontally and nothing flips.

    PETR's 1600x900 -> 800x320 setting ``resize_lim=(0.47, 0.625)`` is
    ``scale_range=(0.94, 1.25)`` here (``r_fit = 0.5``); expressing it relative to ``r_fit``
    makes the same config work for any input size (e.g. small synthetic images).

    Required Keys:

    - img (List[np.ndarray]): N views, (H, W, C) each.
    - cam2img (List[np.ndarray]): N (3, 3) or (4, 4) intrinsics.
    - lidar2cam (List[np.ndarray]): N (4, 4) extrinsics.

    Modified Keys:

    - img: N (H_out, W_out, C) views.
    - img_shape, pad_shape: (H_out, W_out).
    - cam2img: N (4, 4) augmented intrinsics.

    Added Keys:

    - lidar2img (List[np.ndarray]): N (4, 4) augmented projections.
    - img_aug_matrix (List[np.ndarray]): N (4, 4) pixel maps of the augmentation.
    - flip (List[bool]): per view, whether it was mirrored.

    Args:
        final_hw (Sequence[int]): (H_out, W_out). Defaults to (320, 800).
        scale_range (Sequence[float]): range of ``s``. Defaults to (0.94, 1.25).
        bottom_crop_range (Sequence[float]): range of ``b`` (fraction of the resized height).
            Defaults to (0.0, 0.0).
        flip_prob (float): probability of mirroring a view. Defaults to 0.5.
        test_mode (bool): deterministic test-time version. Defaults to False.
        per_view (bool): independent draws per view instead of one per sample.
            Defaults to False.
    """

    def __init__(self, final_hw: Sequence[int] = (320, 800),
                 scale_range: Sequence[float] = (0.94, 1.25),
                 bottom_crop_range: Sequence[float] = (0.0, 0.0), flip_prob: float = 0.5,
                 test_mode: bool = False, per_view: bool = False) -> None:
        if len(final_hw) != 2 or min(final_hw) < 1:
            raise ValueError(f'final_hw must be (height, width) >= 1, got {final_hw}')
        if not 0 < scale_range[0] <= scale_range[1]:
            raise ValueError(f'scale_range must be 0 < low <= high, got {scale_range}')
        if not 0 <= bottom_crop_range[0] <= bottom_crop_range[1] < 1:
            raise ValueError(f'bottom_crop_range must be within [0, 1), got {bottom_crop_range}')
        self.final_hw = (int(final_hw[0]), int(final_hw[1]))
        self.scale_range = tuple(scale_range)
        self.bottom_crop_range = tuple(bottom_crop_range)
        self.flip_prob = flip_prob
        self.test_mode = test_mode
        self.per_view = per_view

    def draw(self) -> Tuple[float, float, float, bool]:
        """The random numbers of one augmentation: scale ``s``, bottom fraction ``b``,
        horizontal window position in [0, 1) of the slack, flip (fixed in test mode)."""
        if self.test_mode:
            return 1.0, float(np.mean(self.bottom_crop_range)), 0.5, False
        return (float(np.random.uniform(*self.scale_range)),
                float(np.random.uniform(*self.bottom_crop_range)), float(np.random.rand()),
                bool(np.random.rand() < self.flip_prob))

    def sample_params(self, height: int, width: int,
                      drawn: Optional[Tuple[float, float, float, bool]] = None
                      ) -> Tuple[Tuple[int, int], Tuple[int, int], bool]:
        """One view's augmentation.

        Args:
            height (int): input image height.
            width (int): input image width.
            drawn (Optional[Tuple]): the output of :meth:`draw`; None draws anew.

        Returns:
            Tuple: ``(new_w, new_h)`` resized size, ``(crop_x, crop_y)`` top-left corner of the
            window in the resized image, and the flip flag.
        """
        scale, bottom, position, flip = self.draw() if drawn is None else drawn
        out_h, out_w = self.final_hw
        r_fit = max(out_h / height, out_w / width)
        new_w = max(1, int(round(width * r_fit * scale)))
        new_h = max(1, int(round(height * r_fit * scale)))
        crop_y = int((1 - bottom) * new_h) - out_h
        slack = max(0, new_w - out_w)
        crop_x = slack // 2 if self.test_mode else int(position * slack)
        return (new_w, new_h), (crop_x, crop_y), flip

    def apply_image(self, img: np.ndarray, new_wh: Tuple[int, int], crop_xy: Tuple[int, int],
                    flip: bool) -> np.ndarray:
        """Resize (bilinear), crop with zero padding and mirror one (H, W, C) image."""
        out_h, out_w = self.final_hw
        resized = mmcv.imresize(img, new_wh, interpolation='bilinear')
        out = np.zeros((out_h, out_w) + img.shape[2:], dtype=img.dtype)
        cx, cy = crop_xy
        # Overlap of the window [cy, cy + out_h) x [cx, cx + out_w) with the resized image.
        y0, y1 = max(cy, 0), min(cy + out_h, new_wh[1])
        x0, x1 = max(cx, 0), min(cx + out_w, new_wh[0])
        if y1 > y0 and x1 > x0:
            out[y0 - cy:y1 - cy, x0 - cx:x1 - cx] = resized[y0:y1, x0:x1]
        if flip:
            out = np.ascontiguousarray(out[:, ::-1])
        return out

    def transform(self, results: dict) -> dict:
        """Augment every view of ``results`` (see the class docstring for the keys)."""
        imgs: List[np.ndarray] = results['img']
        num_views = len(imgs)
        for key in ('cam2img', 'lidar2cam'):
            if key not in results or len(results[key]) != num_views:
                raise ValueError(f'MultiViewResizeCropFlip needs one {key!r} per view '
                                 f'({num_views} views) for sample '
                                 f'{results.get("sample_idx", "?")}; got '
                                 f'{len(results.get(key, []))}')
        out_imgs, cam2imgs, lidar2imgs, aug_mats, flips = [], [], [], [], []
        drawn = None if self.per_view else self.draw()
        for img, cam2img, lidar2cam in zip(imgs, results['cam2img'], results['lidar2cam']):
            h, w = img.shape[:2]
            new_wh, crop_xy, flip = self.sample_params(h, w, drawn)
            out_imgs.append(self.apply_image(img, new_wh, crop_xy, flip))
            aug = image_aug_matrix((new_wh[0] / w, new_wh[1] / h), crop_xy, flip,
                                   self.final_hw[1])
            cam2img_aug = aug @ to_homogeneous_4x4(cam2img)
            cam2imgs.append(cam2img_aug)
            lidar2imgs.append(cam2img_aug @ np.asarray(lidar2cam, dtype=np.float64))
            aug_mats.append(aug)
            flips.append(flip)
        results['img'] = out_imgs
        results['img_shape'] = self.final_hw
        results['pad_shape'] = self.final_hw
        results['cam2img'] = cam2imgs
        results['lidar2img'] = lidar2imgs
        results['img_aug_matrix'] = aug_mats
        results['flip'] = flips
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(final_hw={self.final_hw}, '
                f'scale_range={self.scale_range}, bottom_crop_range={self.bottom_crop_range}, '
                f'flip_prob={self.flip_prob}, test_mode={self.test_mode}, '
                f'per_view={self.per_view})')
