# DINO in `benchmarks/pretrain_probe.py`: the shared CPU budget applied to the DINO model. Like
# CrIBo and S3PT it sees the two global crops only (no local crops: same crops for every
# method); the depth maps the shared pipeline loads are not used.
_base_ = ['../_base_/models/dino_vit-s16.py', '../_base_/pretrain_probe_synthetic-cpu.py']
model = dict(backbone={{_base_.probe_backbone}}, head={{_base_.probe_head}},
             base_momentum={{_base_.probe_base_momentum}})
