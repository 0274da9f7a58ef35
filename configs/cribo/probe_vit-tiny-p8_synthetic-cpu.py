# CrIBo in `benchmarks/pretrain_probe.py`: the shared CPU budget applied to the CrIBo model.
# Clusters and queue scaled like S3PT's: k = 32 for 2 x 196 tokens -> 10 for 2 x 64 (the
# paper's 12 tokens per cluster); queue 25,000 images of nuScenes' 168,780 (15 %) -> 64 here.
_base_ = ['../_base_/models/cribo_vit-s16.py', '../_base_/pretrain_probe_synthetic-cpu.py']
model = dict(backbone={{_base_.probe_backbone}}, head={{_base_.probe_head}},
             base_momentum={{_base_.probe_base_momentum}},
             assigner=dict(num_clusters=10), queue=dict(queue_size=64))
