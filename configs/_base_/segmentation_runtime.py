# Runtime shared by the segmentation configs: mmseg registries + s3pt_mm's segmentation modules.
default_scope = 'mmseg'
custom_imports = dict(imports=['s3pt_mm', 's3pt_mm.segmentation'], allow_failed_imports=False)

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
vis_backends = [dict(type='LocalVisBackend')]
# No fixed name: each Runner then gets its own visualizer (named after the run), so several runs
# in one process (make demo, tests) each write their own vis_data/scalars.json.
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
