"""Masks from foundation models whose weights the user provides: open-vocabulary boxes from
mmdet (GroundingDINO) prompting ``segment_anything`` (SAM), as CM3D does with Detic + SAM.

Reference steps (github meharkhurana03/cm3d, ``src/nuscenes/gen_2d_masks_detic.py``): the image
is shrunk to fit 1024 x 1024 (``PIL.Image.thumbnail``; 1600x900 -> 1024x576, scale 0.64), boxes
above score 0.1 are kept, class-wise 2D NMS at IoU 0.75, then SAM predicts one mask per box
(``multimask_output=False``). Class names come from the prompt's synonyms
(:data:`PROMPT_SYNONYMS`, the reference's nuScenes ``TEXT_PROMPT_MAPS``).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from s3pt_mm.datasets.nuscenes_infos import NuScenesSample

from .base import InstanceMask, MaskSource

#: Prompt phrases per detection class (the reference's nuScenes TEXT_PROMPT_MAPS).
PROMPT_SYNONYMS: Dict[str, List[str]] = {
    'bicycle': ['bicycle', 'cycle'],
    'car': ['sedan car', 'car', 'sedan', 'suv'],
    'pedestrian': ['human', 'man', 'woman', 'pedestrian', 'person'],
    'truck': ['truck', 'semi', 'lorry', 'pickup truck'],
    'bus': ['bus'],
    'traffic_cone': ['traffic cone'],
    'barrier': ['road barrier', 'traffic barrier'],
    'construction_vehicle': ['construction vehicle', 'bulldozer', 'excavator'],
    'motorcycle': ['motorcycle', 'motorbike'],
    'trailer': ['truck trailer'],
}


def text_prompt(synonyms: Dict[str, List[str]] = PROMPT_SYNONYMS) -> str:
    """GroundingDINO caption: every phrase followed by ``' . '``."""
    return ''.join(f'{p} . ' for phrases in synonyms.values() for p in phrases)


def phrase_to_class(synonyms: Dict[str, List[str]] = PROMPT_SYNONYMS) -> Dict[str, str]:
    """Phrase -> detection class."""
    return {p: cls for cls, phrases in synonyms.items() for p in phrases}


def classwise_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: Sequence[str],
                  iou: float = 0.75) -> List[int]:
    """Indices kept by per-class ``torchvision.ops.nms`` (the reference's 2D NMS)."""
    from torchvision.ops import nms
    keep: List[int] = []
    for cls in sorted(set(labels)):
        idx = torch.tensor([i for i, lab in enumerate(labels) if lab == cls], dtype=torch.long)
        kept = nms(boxes[idx].float(), scores[idx].float(), iou)
        keep.extend(idx[kept].tolist())
    return keep


class FoundationMaskSource(MaskSource):
    """Box detector (mmdet) + SAM masks. See the module docstring for the steps.

    Args:
        gdino_config (str | Config, optional): mmdet config of the box detector (GroundingDINO;
            any mmdet detector works, its own class names are used when it takes no text).
        gdino_checkpoint (Optional[str]): detector weights (None = random, for tests).
        sam_checkpoint (Optional[str]): SAM weights for ``segment_anything.sam_model_registry``.
        sam_type (str): SAM registry key. Defaults to 'vit_h' (the reference's).
        device (str): inference device. Defaults to 'cpu'.
        detector (optional): an already built mmdet model (instead of the config).
        sam (optional): an already built ``segment_anything.modeling.Sam`` (instead of the
            checkpoint).
        box_threshold (float): score threshold of the boxes. Defaults to 0.1.
        nms_iou (float): class-wise 2D NMS IoU. Defaults to 0.75.
        max_size (int): images are shrunk to fit ``max_size`` squared. Defaults to 1024.
    """

    def __init__(self, gdino_config=None, gdino_checkpoint: Optional[str] = None,
                 sam_checkpoint: Optional[str] = None, sam_type: str = 'vit_h',
                 device: str = 'cpu', detector=None, sam=None, box_threshold: float = 0.1,
                 nms_iou: float = 0.75, max_size: int = 1024) -> None:
        if detector is None:
            if gdino_config is None:
                raise ValueError('the foundation mask source needs a detector config '
                                 '(--gdino-config) and weights (--gdino-checkpoint)')
            from mmdet.apis import init_detector
            detector = init_detector(gdino_config, gdino_checkpoint, device=device)
        if sam is None:
            if sam_checkpoint is None:
                raise ValueError('the foundation mask source needs SAM weights '
                                 '(--sam-checkpoint); none are downloaded')
            from segment_anything import sam_model_registry
            sam = sam_model_registry[sam_type](checkpoint=sam_checkpoint).to(device)
        from segment_anything import SamPredictor
        self.detector = detector
        self.predictor = SamPredictor(sam)
        self.box_threshold = float(box_threshold)
        self.nms_iou = float(nms_iou)
        self.max_size = int(max_size)
        self.takes_text = type(detector).__name__.startswith('GroundingDINO')
        self.phrases = phrase_to_class()

    def _boxes(self, image: np.ndarray):
        """(N, 4) xyxy boxes, scores and class names on ``image`` (RGB, H x W x 3)."""
        from mmdet.apis import inference_detector
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        if self.takes_text:
            result = inference_detector(self.detector, bgr, text_prompt=text_prompt())
        else:
            result = inference_detector(self.detector, bgr)
        pred = result.pred_instances
        keep = pred.scores >= self.box_threshold
        boxes, scores = pred.bboxes[keep].cpu(), pred.scores[keep].cpu()
        if self.takes_text and 'label_names' in pred:
            names = [self.phrases.get(str(n).strip(), str(n).strip())
                     for n, k in zip(pred.label_names, keep.tolist()) if k]
        else:
            classes = (self.detector.dataset_meta or {}).get('classes', ())
            names = [classes[int(lab)] if int(lab) < len(classes) else str(int(lab))
                     for lab in pred.labels[keep].tolist()]
        return boxes, scores, names

    def masks(self, sample: NuScenesSample) -> List[InstanceMask]:
        """Masks of every camera of ``sample`` (see :class:`MaskSource`)."""
        from PIL import Image
        out = []
        for cam, camera in sample.cameras.items():
            with Image.open(camera.img_path) as img:
                img = img.convert('RGB')
                width = img.size[0]
                img.thumbnail((self.max_size, self.max_size))
                image = np.asarray(img)
            boxes, scores, names = self._boxes(image)
            if len(boxes) == 0:
                continue
            keep = classwise_nms(boxes, scores, names, self.nms_iou)
            boxes, scores = boxes[keep], scores[keep]
            names = [names[i] for i in keep]
            self.predictor.set_image(image)
            prompts = self.predictor.transform.apply_boxes_torch(
                boxes.to(self.predictor.device), image.shape[:2])
            masks, _, _ = self.predictor.predict_torch(point_coords=None, point_labels=None,
                                                       boxes=prompts, multimask_output=False)
            for mask, score, name in zip(masks[:, 0].cpu().numpy(), scores.tolist(), names):
                out.append(InstanceMask(camera=cam, mask=mask, label=name, score=float(score),
                                        scale=image.shape[1] / width))
        return out
