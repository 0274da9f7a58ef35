# Ablation step 2: + object-diversity Sinkhorn-Knopp (1 round, 128 clusters, queue 2500).
_base_ = ['./step1_cribo+vmf_vit-s16_nuscenes-100e.py']
model = dict(assigner=dict(num_clusters=128, sinkhorn_iterations=1), queue=dict(queue_size=2500))
