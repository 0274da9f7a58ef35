# Domain generalisation (test only): the model of ../linear_vit-s16_160k_nuimages-512x512.py,
# trained on nuImages, tested on Cityscapes val. Predictions and labels are scored in the classes
# both datasets annotate (CrossDatasetIoUMetric, docs/segmentation.md):
#   python tools/test_seg.py configs/segmenter/dg/linear_vit-s16_nuimages-to-cityscapes.py \
#       work_dirs/linear_vit-s16_160k_nuimages-512x512/best_mIoU_iter_*.pth
_base_ = [
    '../linear_vit-s16_160k_nuimages-512x512.py',
    '../../_base_/datasets/cityscapes_768x768_val.py',
]
test_dataloader = dict(_delete_=True, **_base_.cityscapes_val_dataloader)
test_evaluator = dict(type='CrossDatasetIoUMetric', model_classes='nuimages')
