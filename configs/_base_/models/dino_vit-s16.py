# DINO with ViT-S/16 (Tab. 1): image-level self-distillation only (no clusters, no queue).
_base_ = ['./s3pt_vit-s16.py']
model = dict(
    head=dict(use_vmf=False, centering='logit', with_object_head=False),
    assigner=None,
    queue=None,
)
