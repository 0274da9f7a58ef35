# Domain generalisation (test only): the model of ../linear_vit-s16_160k_cityscapes-768x768.py,
# trained on Cityscapes, tested on nuImages val. Predictions and labels are scored in the classes
# both datasets annotate (CrossDatasetIoUMetric, docs/segmentation.md):
#   python tools/test_seg.py configs/segmenter/dg/linear_vit-s16_cityscapes-to-nuimages.py \
#       work_dirs/linear_vit-s16_160k_cityscapes-768x768/best_mIoU_iter_*.pth
_base_ = [
    '../linear_vit-s16_160k_cityscapes-768x768.py',
    '../../_base_/datasets/nuimages_semseg_512x512_val.py',
]
test_dataloader = dict(_delete_=True, **_base_.nuimages_val_dataloader)
test_evaluator = dict(type='CrossDatasetIoUMetric', model_classes='cityscapes')
