# S3PT, ViT-S/16, nuScenes camera images, 500 epochs: every value of Tab. 3 (supplementary).
#
# | Tab. 3                    | here                                                          |
# | epochs 500, batch 256     | train_cfg.max_epochs; 8 GPUs x train_dataloader.batch_size 32  |
# | lr 5e-4, warm-up 10 ep.   | optim_wrapper.optimizer.lr; param_scheduler[0]                 |
# | min lr 1e-5               | param_scheduler[1].eta_min                                     |
# | weight decay 0.04 -> 0.4  | optimizer.weight_decay; param_scheduler[2] (eta_min_ratio 10)  |
# | drop path 0.1, no clip    | model.backbone.drop_path_rate; optim_wrapper has no clip_grad  |
# | freeze last layer 1 ep.   | S3PTScheduleHook.freeze_last_layer_epochs                      |
# | fp16, AdamW               | tools/train.py --amp (AmpOptimWrapper), AdamW                  |
# | momentum 0.996 -> 1       | model.base_momentum 0.004 (mmengine EMA convention), cosine    |
# | 2 global crops [0.25, 1]  | the dataset base's multi-crop transform                        |
# | head 3 layers 2048/256    | model.head.num_layers / hidden_channels / bottleneck_channels  |
# | 65536 prototypes          | model.head.out_channels                                       |
# | norm last layer no, vMF   | model.head.norm_last_layer False, use_vmf True                |
# | centering probability     | model.head.centering                                          |
# | teacher temp 0.04 -> 0.07 | S3PTScheduleHook (30 warm-up epochs), student temp 0.1         |
# | SK lambda 20, 1 iteration | model.assigner.lam, sinkhorn_iterations                       |
# | pos alpha [1,1]           | model.assigner.alpha_pos                                      |
# | depth alpha [4,4]         | model.assigner.alpha_depth                                    |
# | features last, k 128      | backbone out_type='raw' (last layer), assigner.num_clusters   |
# | queue 2500                | model.queue.queue_size                                        |
_base_ = [
    '../_base_/models/s3pt_vit-s16.py',
    '../_base_/datasets/nuscenes_s3pt.py',
    '../_base_/schedules/adamw_500e.py',
    '../_base_/default_runtime.py',
]
