# 100-epoch variant (ViT-B/16, the patch-size study and the ablations): the 500e schedule, whose
# cosine phases end at max_epochs, with 100 epochs.
_base_ = ['./adamw_500e.py']
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
