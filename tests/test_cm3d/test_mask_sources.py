"""The segmentation and foundation-model mask sources with tiny randomly initialised models
(no weights exist here and none are downloaded)."""
import numpy as np
import pytest
import torch
from scipy import ndimage

from s3pt_mm.cm3d.mask_sources.segmentation_masks import connected_instances


def test_connected_instances_equal_scipy_labelling():
    labels = np.random.default_rng(0).integers(0, 4, (30, 40))
    got = connected_instances(labels, [1, 3], min_pixels=2)
    expected = []
    for cid in (1, 3):
        comp, num = ndimage.label(labels == cid, structure=np.ones((3, 3)))
        for k in range(1, num + 1):
            if (comp == k).sum() >= 2:
                expected.append((cid, comp == k))
    key = (lambda item: (item[0], tuple(np.argwhere(item[1])[0])))
    assert len(got) == len(expected)
    for (c1, m1), (c2, m2) in zip(sorted(got, key=key), sorted(expected, key=key)):
        assert c1 == c2 and np.array_equal(m1, m2)


@pytest.fixture(scope='module')
def sample(cm3d_data):
    return cm3d_data.samples[0]


def test_segmentation_source_splits_the_model_prediction(sample, repo_root):
    import s3pt_mm  # noqa: F401
    from s3pt_mm.cm3d.mask_sources import build_mask_source
    from s3pt_mm.synthetic.classes import SEMANTIC_CLASSES
    names = [c.name for c in SEMANTIC_CLASSES]
    torch.manual_seed(0)
    src = build_mask_source(dict(
        type='segmentation', classes=names, min_pixels=1,
        config=str(repo_root / 'configs/segmenter/linear_vit-tiny_synthetic-224x224.py')))
    one = type(sample)(**{**sample.__dict__, 'cameras': {
        'CAM_FRONT': sample.cameras['CAM_FRONT']}})
    masks = src.masks(one)
    labels, probs = src.predict(one.cameras['CAM_FRONT'].img_path)
    detection = ('car', 'truck', 'bus', 'pedestrian', 'bicycle', 'traffic_cone', 'barrier',
                 'motorcycle', 'trailer', 'construction_vehicle')
    objects = [i for i, n in enumerate(names) if n in detection]
    expected = connected_instances(labels, objects, 1)
    assert len(masks) == len(expected)
    for m, (cid, mask) in zip(masks, expected):
        assert m.label == names[cid] and np.array_equal(m.mask, mask)
        assert m.score == pytest.approx(float(probs[cid][mask].mean()))
        assert m.scale == pytest.approx(1.0)


def _tiny_sam():
    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)
    torch.manual_seed(0)
    return Sam(image_encoder=ImageEncoderViT(img_size=64, patch_size=16, embed_dim=32, depth=1,
                                             num_heads=2, out_chans=32),
               prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(4, 4),
                                            input_image_size=(64, 64), mask_in_chans=4),
               mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=32,
                                        transformer=TwoWayTransformer(depth=1, embedding_dim=32,
                                                                      mlp_dim=64, num_heads=2),
                                        iou_head_hidden_dim=16)).eval()


def _tiny_detector():
    from mmdet.apis import init_detector
    from mmengine.config import Config
    cfg = Config(dict(
        model=dict(
            type='RetinaNet',
            data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.7, 116.3, 103.5],
                                   std=[58.4, 57.1, 57.4], bgr_to_rgb=True),
            backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                          base_channels=8, norm_cfg=dict(type='BN', requires_grad=True)),
            neck=dict(type='FPN', in_channels=[64], out_channels=16, num_outs=1),
            bbox_head=dict(type='RetinaHead', num_classes=3, in_channels=16, stacked_convs=1,
                           feat_channels=16,
                           anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                                 scales_per_octave=1, ratios=[1.0],
                                                 strides=[32]),
                           bbox_coder=dict(type='DeltaXYWHBBoxCoder'),
                           loss_cls=dict(type='FocalLoss', use_sigmoid=True),
                           loss_bbox=dict(type='L1Loss')),
            test_cfg=dict(nms_pre=50, min_bbox_size=0, score_thr=0.0,
                          nms=dict(type='nms', iou_threshold=0.5), max_per_img=6)),
        test_dataloader=dict(dataset=dict(pipeline=[
            dict(type='LoadImageFromFile'), dict(type='Resize', scale=(96, 96), keep_ratio=True),
            dict(type='PackDetInputs',
                 meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))])),
        default_scope='mmdet'))
    torch.manual_seed(0)
    det = init_detector(cfg, None, palette='random', device='cpu')
    det.dataset_meta = dict(classes=('car', 'pedestrian', 'unicorn'))
    return det


def test_foundation_source_boxes_to_sam_masks(sample):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    from segment_anything import SamPredictor

    from s3pt_mm.cm3d.mask_sources.foundation_masks import (FoundationMaskSource,
                                                            classwise_nms, text_prompt)
    assert text_prompt().startswith('bicycle . cycle . sedan car . ')
    sam = _tiny_sam()
    src = FoundationMaskSource(detector=_tiny_detector(), sam=sam, box_threshold=0.0,
                               max_size=96)
    one = type(sample)(**{**sample.__dict__, 'cameras': {
        'CAM_FRONT': sample.cameras['CAM_FRONT']}})
    masks = src.masks(one)
    assert masks, 'the random detector returns boxes at score threshold 0'
    from PIL import Image
    img = Image.open(one.cameras['CAM_FRONT'].img_path).convert('RGB')
    width = img.size[0]
    img.thumbnail((96, 96))
    image = np.asarray(img)
    boxes, scores, names = src._boxes(image)
    keep = classwise_nms(boxes, scores, names, 0.75)
    assert len(masks) == len(keep)
    predictor = SamPredictor(sam)
    predictor.set_image(image)
    for m, k in zip(masks, keep):
        ref, _, _ = predictor.predict(box=boxes[k].numpy(), multimask_output=False)
        assert m.label == names[k] and m.mask.shape == image.shape[:2]
        assert np.array_equal(m.mask, ref[0])
        assert m.scale == pytest.approx(image.shape[1] / width)
