# Ablation step 1: CrIBo + vMF normalisation with probability centering.
_base_ = ['./step0_cribo_vit-s16_nuscenes-100e.py']
model = dict(head=dict(use_vmf=True, centering='probability', norm_last_layer=False))
