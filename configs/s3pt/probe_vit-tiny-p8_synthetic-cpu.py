# S3PT in `benchmarks/pretrain_probe.py`: the shared CPU budget applied to the S3PT model.
# Clusters and queue scaled with the token count and the data set: k = 128 for 2 x 196 tokens
# -> 42 for 2 x 64 tokens (the paper's 3 tokens per cluster); queue 2500 images of nuScenes'
# 168,780 (1.5 %) -> 2 batches (32 images) of the 384 here.
_base_ = ['../_base_/models/s3pt_vit-s16.py', '../_base_/pretrain_probe_synthetic-cpu.py']
model = dict(backbone={{_base_.probe_backbone}}, head={{_base_.probe_head}},
             base_momentum={{_base_.probe_base_momentum}},
             assigner=dict(num_clusters=42), queue=dict(queue_size=32))
