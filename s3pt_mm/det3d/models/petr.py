"""PETR: multi-view camera 3D detector with a (frozen) image backbone."""
from typing import Dict, List, Optional, Tuple

from mmdet3d.models.detectors import Base3DDetector
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from torch import Tensor


@MODELS.register_module()
class PETR(Base3DDetector):
    """PETR (Liu et al., ECCV 2022) as used by S3PT's 3D detection protocol (docs/method.md §8).

    The N views of every sample go through the image backbone (for S3PT a frozen pre-trained
    ViT, :class:`FrozenBackbone`) and the neck as one batch of B N images; the first neck level
    (stride 16) is handed to :class:`PETRHead`, which adds the 3D position embedding, decodes
    object queries and owns the losses. :class:`GridMask` hides grid cells of the training
    images before the backbone.

    Args:
        img_backbone (dict): image backbone config.
        img_neck (Optional[dict]): neck config (e.g. ``mmdet.ChannelMapper``). Defaults to None.
        pts_bbox_head (dict): :class:`PETRHead` config.
        grid_mask (Optional[dict]): :class:`GridMask` config; None disables it.
            Defaults to None.
        data_preprocessor (Optional[dict]): e.g. ``Det3DDataPreprocessor``. Defaults to None.
        train_cfg (Optional[dict]): unused, kept for mmdet3d's config layout. Defaults to None.
        test_cfg (Optional[dict]): unused, see ``train_cfg``. Defaults to None.
        init_cfg (Optional[dict]): Defaults to None.
    """

    def __init__(self, img_backbone: dict, pts_bbox_head: dict,
                 img_neck: Optional[dict] = None, grid_mask: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.img_backbone = MODELS.build(img_backbone)
        self.img_neck = MODELS.build(img_neck) if img_neck is not None else None
        self.pts_bbox_head = MODELS.build(pts_bbox_head)
        self.grid_mask = MODELS.build(grid_mask) if grid_mask is not None else None
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, batch_inputs_dict: Dict[str, Tensor]) -> Tensor:
        """Stride-16 features of every view.

        Args:
            batch_inputs_dict (Dict[str, Tensor]): ``imgs`` (B, N, C, H, W), normalised.

        Returns:
            Tensor: (B, N, C', H / 16, W / 16) first neck level.

        Raises:
            ValueError: if ``imgs`` is missing or not 5-dimensional.
        """
        imgs = batch_inputs_dict.get('imgs')
        if imgs is None or imgs.dim() != 5:
            raise ValueError('PETR expects inputs["imgs"] of shape (B, N, C, H, W), got '
                             f'{None if imgs is None else tuple(imgs.shape)}')
        b, n = imgs.shape[:2]
        imgs = imgs.flatten(0, 1)
        if self.grid_mask is not None:
            imgs = self.grid_mask(imgs)  # a no-op in eval mode
        feats = self.img_backbone(imgs)
        if self.img_neck is not None:
            feats = self.img_neck(feats)
        feat = feats[0]
        return feat.view(b, n, *feat.shape[1:])

    def loss(self, batch_inputs_dict: Dict[str, Tensor],
             batch_data_samples: List[Det3DDataSample], **kwargs) -> Dict[str, Tensor]:
        """Head losses (see :meth:`PETRHead.loss`)."""
        return self.pts_bbox_head.loss(self.extract_feat(batch_inputs_dict), batch_data_samples)

    def predict(self, batch_inputs_dict: Dict[str, Tensor],
                batch_data_samples: List[Det3DDataSample], **kwargs) -> List[Det3DDataSample]:
        """Detections in ``pred_instances_3d`` of every sample (LiDAR frame)."""
        results = self.pts_bbox_head.predict(self.extract_feat(batch_inputs_dict),
                                             batch_data_samples)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs_dict: Dict[str, Tensor],
                 batch_data_samples: Optional[List[Det3DDataSample]] = None,
                 **kwargs) -> Tuple[Tensor, Tensor]:
        """Raw head outputs: logits (L, B, Q, K) and box codes (L, B, Q, 10)."""
        metas = [s.metainfo for s in batch_data_samples]
        return self.pts_bbox_head(self.extract_feat(batch_inputs_dict), metas)
