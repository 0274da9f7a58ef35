"""Write ``image | prediction | ground truth`` pictures during testing."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .visualization import comparison_panel


@HOOKS.register_module()
class SegComparisonHook(Hook):
    """Save one ``image | prediction | ground truth`` PNG per test (or val) image.

    Pictures go to ``out_dir`` (relative paths are inside the run's log folder), named after
    the image. Predictions and labels are at the original image size (mmseg resizes the
    prediction back; test pipelines load the labels after resizing the image).

    Args:
        out_dir (str): output folder. Defaults to ``'comparisons'``.
        max_images (int): stop after this many pictures per run. Defaults to 20.
        draw_val (bool): also draw during validation. Defaults to False.
        pred_palette (Sequence[Sequence[int]], optional): colours of the predicted classes
            when they differ from the dataset's (DG); None = the dataset's palette.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str = 'comparisons', max_images: int = 20,
                 draw_val: bool = False,
                 pred_palette: Optional[Sequence[Sequence[int]]] = None) -> None:
        if max_images < 0:
            raise ValueError(f'max_images must be >= 0, got {max_images}')
        self.out_dir = out_dir
        self.max_images = max_images
        self.draw_val = draw_val
        self.pred_palette = pred_palette
        self._count = 0

    def before_test(self, runner) -> None:
        self._count = 0

    def before_val(self, runner) -> None:
        self._count = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._draw(runner, outputs, runner.test_dataloader.dataset.metainfo)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.draw_val:
            self._draw(runner, outputs, runner.val_dataloader.dataset.metainfo)

    def _draw(self, runner, outputs, metainfo: dict) -> None:
        out_dir = osp.join(runner.log_dir, self.out_dir) if not osp.isabs(
            self.out_dir) else self.out_dir
        for sample in outputs or []:
            if self._count >= self.max_images:
                return
            image = mmcv.imread(sample.img_path, channel_order='rgb')
            pred = sample.pred_sem_seg.data[0].cpu().numpy()
            gt = sample.gt_sem_seg.data[0].cpu().numpy() if 'gt_sem_seg' in sample else None
            if image.shape[:2] != pred.shape:
                image = mmcv.imresize(image, pred.shape[::-1])
            panel = comparison_panel(image, pred, gt, metainfo['palette'], self.pred_palette)
            name = osp.splitext(osp.basename(sample.img_path))[0]
            mmcv.imwrite(np.ascontiguousarray(panel[..., ::-1]), osp.join(out_dir, f'{name}.png'))
            self._count += 1
