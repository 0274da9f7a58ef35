# Baseline: the same one labelled scene from random initialisation.
_base_ = ['./centerpoint_tiny_synthetic-cpu_finetune-1scene.py']
load_from = None
