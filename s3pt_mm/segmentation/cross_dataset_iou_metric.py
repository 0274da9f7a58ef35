"""IoU of a model trained on one label space, scored on a dataset of another (DG)."""
from typing import Optional, Sequence, Union

import torch
from mmseg.registry import METRICS

from .label_spaces import SHARED_CLASSES, label_space, shared_lut
from .per_class_iou_metric import PerClassIoUMetric


@METRICS.register_module()
class CrossDatasetIoUMetric(PerClassIoUMetric):
    """Per-class IoU in the label space two datasets share (domain generalisation).

    Predictions (in the training dataset's classes, ``model_classes``) and ground truth (in
    the test dataset's classes, from its metainfo) are both mapped to
    :data:`~s3pt_mm.segmentation.label_spaces.SHARED_CLASSES` by class name
    (:data:`~s3pt_mm.segmentation.label_spaces.TO_SHARED`). Ground-truth pixels of classes
    without a counterpart are ignored; a prediction of such a class counts as a miss for the
    pixel's true class (it is in no class's prediction area). The table and ``IoU.<class>``
    entries are over the shared classes.

    Args:
        model_classes (str | Sequence[str]): the classes the model predicts, as a label-space
            name (``'nuimages'``, ``'cityscapes'``, ``'synthetic'``) or class names in id order.
        **kwargs: :class:`PerClassIoUMetric` arguments.
    """

    def __init__(self, model_classes: Union[str, Sequence[str]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.model_classes = label_space(model_classes)
        self._pred_lut = torch.from_numpy(shared_lut(self.model_classes).astype('int64'))
        self._gt_lut: Optional[torch.Tensor] = None
        self.data_classes: Optional[tuple] = None

    @property
    def dataset_meta(self) -> Optional[dict]:
        """The test dataset's metainfo with ``classes`` replaced by the shared classes."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self.data_classes = tuple(dataset_meta['classes'])
        self._gt_lut = torch.from_numpy(shared_lut(self.data_classes).astype('int64'))
        meta = dict(dataset_meta)
        meta.update(classes=SHARED_CLASSES, palette=None)
        self._dataset_meta = meta

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Map predictions and labels to the shared classes, then accumulate as mmseg does.

        Raises:
            RuntimeError: if no dataset metainfo was set (the evaluator sets it).
        """
        if self._gt_lut is None:
            raise RuntimeError('CrossDatasetIoUMetric needs the test dataset metainfo')
        mapped = []
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data']
            gt = sample['gt_sem_seg']['data']
            mapped.append(dict(
                sample,
                pred_sem_seg=dict(data=self._pred_lut.to(pred.device)[pred.long()]),
                gt_sem_seg=dict(data=self._gt_lut.to(gt.device)[gt.long()])))
        super().process(data_batch, mapped)
