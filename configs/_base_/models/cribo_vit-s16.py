# CrIBo with ViT-S/16 (Tab. 2): the S3PT model without vMF, depth, or object-diversity SK.
_base_ = ['./s3pt_vit-s16.py']
model = dict(
    head=dict(use_vmf=False, centering='logit'),
    assigner=dict(num_clusters=32, sinkhorn_iterations=5, alpha_depth=(0.0, 0.0)),
    queue=dict(queue_size=25000),
)
