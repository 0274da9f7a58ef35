"""S3PT: scene semantics and structure guided clustering (Wozniak et al., arXiv 2410.23085)."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_dist_info
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.registry import MODELS, TASK_UTILS
from mmpretrain.structures import DataSample
from torch import Tensor, nn

from ..losses import cross_image_loss, cross_view_loss
from ..utils.cross_image_queue import CrossImageQueue
from ..utils.object_pooling import pool_object_tokens
from ..utils.training_stats import cluster_statistics, kappa_statistics, mean_entropy


@MODELS.register_module()
class S3PT(BaseSelfSupervisor):
    """Self-distillation of image, object and cross-image tokens, with depth-guided clusters.

    S3PT = CrIBo + vMF normalisation + object-diversity Sinkhorn-Knopp (1 round, k = 128)
    + a depth term in the clustering cost (docs/method.md). The same class gives the baselines by
    configuration alone:

    - **DINO**: ``assigner=None`` (no objects) and local crops in the pipeline;
    - **CrIBo**: assigner with ``alpha_depth=0``, 5 Sinkhorn rounds, k = 32, a 25,000-image
      queue, head without vMF;
    - **S3PT**: the Tab. 3 values (``configs/s3pt/``).

    One step (:meth:`loss`) reads top to bottom: views → teacher tokens → clusters → object
    tokens → losses. The teacher is an EMA of the student's backbone *and* head
    (``teacher.module.backbone`` / ``teacher.module.head``), updated with the student's weights
    at the start of every step.

    Args:
        backbone (dict): a ViT returning ``(B, 1 + N, D)`` tokens after the final norm
            (``mmpretrain.VisionTransformer`` with ``out_type='raw'``).
        head (dict): an :class:`S3PTHead`.
        assigner (dict, optional): a ``DepthGuidedSinkhornAssigner`` (``TASK_UTILS``); None
            trains the image-level loss only (DINO). Defaults to None.
        queue (dict, optional): :class:`CrossImageQueue` arguments ``queue_size`` (and
            optionally ``max_chunk_elements``, ``search``, ``candidates``: by default the queue
            is searched with a bf16 shortlist and exact fp32 re-ranking on CUDA, exactly in
            fp32 on CPU); None disables the cross-image loss. Needs an assigner. Defaults to
            None.
        base_momentum (float): EMA momentum in mmengine's convention
            (``teacher = (1 − m)·teacher + m·student``), annealed to 0 with a cosine over all
            iterations: 0.004 is DINO's 0.996 → 1. Defaults to 0.004.
        num_global_views (int): views seen by the teacher (the first ones). Defaults to 2.
        loss_weights (dict, optional): weights of ``global``, ``object``, ``cross_image``.
            Defaults to 1 each (docs/method.md §6.4: total = global + object + cross-image).
        cross_image_enabled (bool): initial state of the cross-image loss (the schedule hook
            switches it on from ``cross_image_start_epoch``). Defaults to False.
        cluster_seed (int): seed of the clustering's random seed tokens. They are drawn from
            (cluster_seed, EMA step, global image index) only, so resuming and splitting the
            batch over GPUs do not change them. Defaults to 0.
        cribo_conventions (bool): CrIBo's code conventions (docs/method.md §5.5, §6.2): the
            assigner's four clustering conventions (unless its config sets
            ``cribo_conventions`` itself) and the cross-image loss divided by V times the
            first direction's count of cycle-consistent pairs (CrIBo's ``CrIBoLoss``) instead
            of the pooled count. The batch-wide min-max of the cost makes a run depend on the
            per-GPU batch (docs/method.md §5.6). The configs turn it on. Defaults to False.
        data_preprocessor (dict, optional): Defaults to ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): mmengine init config.
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 assigner: Optional[dict] = None,
                 queue: Optional[dict] = None,
                 base_momentum: float = 0.004,
                 num_global_views: int = 2,
                 loss_weights: Optional[Dict[str, float]] = None,
                 cross_image_enabled: bool = False,
                 cluster_seed: int = 0,
                 cribo_conventions: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(backbone=backbone, head=head, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if num_global_views != 2:
            raise ValueError(f'S3PT clusters the tokens of exactly two global views, got '
                             f'num_global_views={num_global_views}')
        if queue is not None and assigner is None:
            raise ValueError('the cross-image queue holds object tokens: it needs an assigner')
        weights = dict(global_=1.0, object=1.0, cross_image=1.0)
        for key, value in (loss_weights or {}).items():
            name = 'global_' if key == 'global' else key
            if name not in weights:
                raise ValueError(f'unknown loss weight {key!r}; expected global, object, '
                                 'cross_image')
            weights[name] = float(value)
        self.loss_weights = weights
        self.num_global_views = num_global_views
        self.cribo_conventions = bool(cribo_conventions)
        if assigner is not None:
            assigner = dict(assigner)
            assigner.setdefault('cribo_conventions', self.cribo_conventions)
        self.assigner = TASK_UTILS.build(assigner) if assigner is not None else None
        self.nn_loss_normalization = 'first_direction' if self.cribo_conventions else 'pooled'
        embed_dims = self.backbone.embed_dims
        self.queue = (CrossImageQueue(num_objects=self.assigner.num_clusters,
                                      embed_dims=embed_dims, num_views=num_global_views, **queue)
                      if queue is not None else None)
        self.cross_image_enabled = bool(cross_image_enabled)
        self.cluster_seed = int(cluster_seed)
        self.teacher = CosineEMA(nn.ModuleDict(dict(backbone=self.backbone, head=self.head)),
                                 momentum=base_momentum)
        self.teacher.eval()

    def train(self, mode: bool = True) -> 'S3PT':
        """Set the student's mode; the teacher always runs in eval mode (no drop path)."""
        super().train(mode)
        self.teacher.eval()
        return self

    # ------------------------------------------------------------------ public setters
    def set_cross_image_enabled(self, enabled: bool) -> None:
        """Switch the cross-image loss on or off (docs/method.md §6: from epoch 1 on)."""
        self.cross_image_enabled = bool(enabled)

    # ------------------------------------------------------------------ the method
    def loss(self, inputs: List[Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, Tensor]:
        """One S3PT step.

        Args:
            inputs (List[Tensor]): V views, each (B, 3, H, W); the first two are the global
                views (224²), any further ones local crops (student only).
            data_samples (List[DataSample]): per image ``token_pos`` (2, N, 2) in original-image
                pixels and, for the depth term, ``token_depth`` (2, N) and
                ``token_depth_valid`` (2, N), for the two global views.

        Returns:
            Dict[str, Tensor]: the weighted losses (``loss_*``) and training statistics.
        """
        head, teacher = self.head, self.teacher.module
        num_images = inputs[0].shape[0]
        global_views = torch.cat(inputs[:self.num_global_views])  # (2B, 3, H, W)
        self.teacher.update_parameters(nn.ModuleDict(dict(backbone=self.backbone, head=head)))

        # 1. Tokens: teacher on the global views; student on every view.
        with torch.no_grad():
            t_cls, t_patch = self._tokens(teacher.backbone, global_views)
        s_cls, s_patch = self._tokens(self.backbone, global_views)
        s_cls = torch.cat([s_cls] + [self._tokens(self.backbone, view)[0]
                                     for view in inputs[self.num_global_views:]])

        # 2. Image-level (DINO) loss between the global views' CLS tokens.
        t_cls_probs = head.teacher_target(teacher.head(t_cls), 'cls')
        s_cls_out = head(s_cls)
        s_cls_logp = head.student_log_prob(s_cls_out, 'cls')
        losses = dict(loss_global=self.loss_weights['global_'] * cross_view_loss(
            t_cls_probs.view(self.num_global_views, num_images, -1),
            s_cls_logp.view(len(inputs), num_images, -1)))
        stats = dict(teacher_entropy=mean_entropy(t_cls_probs),
                     **kappa_statistics(s_cls_out.prototype_norms, head.student_temp))
        if self.assigner is None:
            return self._checked(losses, stats)

        # 3. Clusters over the teacher tokens of both views together, per image.
        t_patch = self._per_image(t_patch, num_images)  # (B, 2, N, D)
        s_patch = self._per_image(s_patch, num_images)
        positions, depths, depth_valid = self._token_geometry(data_samples, t_patch.shape[2])
        with torch.no_grad():
            clusters = self.assigner.assign(t_patch.flatten(1, 2).float(), positions, depths,
                                            depth_valid,
                                            seed_indices=self._cluster_seeds(positions))
        assignment = clusters.assignment.view(num_images, self.num_global_views, -1)
        stats.update(cluster_statistics(clusters.assignment, self.assigner.num_clusters))

        # 4. Object tokens: per-view cluster means, teacher assignment for both networks.
        num_clusters = self.assigner.num_clusters
        t_objects, valid = pool_object_tokens(t_patch, assignment, num_clusters)
        s_objects, _ = pool_object_tokens(s_patch, assignment, num_clusters)
        t_valid = t_objects.transpose(0, 1)[:, valid]  # (2, M, D)
        s_valid = s_objects.transpose(0, 1)[:, valid]
        # Every object target of this step (own objects and queue neighbours) uses the object
        # center from before this step; it is updated once, at the end (docs/method.md §6.3).
        t_obj_out = teacher.head(t_valid.flatten(0, 1), 'object')
        t_obj_probs = self._per_view(head.teacher_target(t_obj_out, 'object',
                                                         update_center=False))
        s_obj_logp = self._per_view(head.student_log_prob(
            head(s_valid.flatten(0, 1), 'object'), 'object'))
        losses['loss_object'] = self.loss_weights['object'] * cross_view_loss(
            t_obj_probs, s_obj_logp) * self._global_mean_scale(t_valid.shape[1], t_valid.device)
        stats['num_objects'] = valid.sum(1).float().mean()

        # 5. Cross-image: cycle-consistent queue neighbours (retrieve, then enqueue).
        if self.queue is not None:
            match = self.queue.retrieve(t_valid.detach())
            stats['cycle_consistent_ratio'] = match.consistent_ratio
            if self.cross_image_enabled:
                neighbour_probs = head.teacher_target(
                    teacher.head(match.neighbours.flatten(0, 1), 'object'), 'object',
                    update_center=False).view_as(s_obj_logp)
                losses['loss_cross_image'] = self.loss_weights['cross_image'] * \
                    self._cross_image_loss(neighbour_probs, s_obj_logp, match.consistent)
            self.queue.enqueue(t_objects.detach(), valid)
        head.update_center(t_obj_out, 'object')
        return self._checked(losses, stats)

    def _cross_image_loss(self, neighbour_probs: Tensor, student_log_probs: Tensor,
                          consistent: Tensor) -> Tensor:
        """This rank's share of the cross-image loss of the global batch (docs/method.md §6.2).

        ``W · S_rank / N_global``: S the rank's sum over its consistent pairs, N the pooled
        count of consistent pairs, or (CrIBo's normalisation) V times the first direction's
        count, with the loss 0 when that count is 0. DDP's gradient average then equals the
        loss of one process holding the whole batch.
        """
        total = cross_image_loss(neighbour_probs, student_log_probs, consistent,
                                 self.nn_loss_normalization, reduction='sum')
        if self.nn_loss_normalization == 'pooled':
            count = self._global_count(consistent.sum(), total.device)
            return total * get_dist_info()[1] / count.clamp_min(1.0)
        first = self._global_count(consistent[0].sum(), total.device)
        scale = get_dist_info()[1] / (consistent.shape[0] * first.clamp_min(1.0))
        return torch.where(first > 0, total * scale, total * 0.0)

    @staticmethod
    def _global_count(local_count, device: torch.device) -> Tensor:
        """() fp32 sum of a count over all ranks (the local count on one process)."""
        total = torch.as_tensor(local_count, dtype=torch.float32, device=device).reshape(1).clone()
        all_reduce(total)
        return total.squeeze(0)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _tokens(backbone: nn.Module, images: Tensor) -> Tuple[Tensor, Tensor]:
        """CLS (B, D) and patch tokens (B, N, D) of the last layer, after the final norm."""
        tokens = backbone(images)[-1]
        if tokens.dim() != 3:
            raise ValueError('S3PT needs the backbone tokens (B, 1 + N, D): build the ViT with '
                             f"out_type='raw', got an output of shape {tuple(tokens.shape)}")
        return tokens[:, 0], tokens[:, 1:]

    def _per_image(self, tokens: Tensor, num_images: int) -> Tensor:
        """(2B, N, D) view-major tokens → (B, 2, N, D)."""
        return tokens.view(self.num_global_views, num_images, *tokens.shape[1:]).transpose(0, 1)

    def _cluster_seeds(self, positions: Tensor) -> Tensor:
        """(B, k) distinct seed tokens per image, independent of the rank split and of resume.

        Assumes the same batch size on every rank (mmengine's samplers pad to it).
        """
        num_images, num_tokens = positions.shape[:2]
        rank, world_size = get_dist_info()
        generator = torch.Generator().manual_seed(self.cluster_seed * 1_000_003 +
                                                  int(self.teacher.steps))
        noise = torch.rand(num_images * world_size, num_tokens, generator=generator)
        noise = noise[rank * num_images:(rank + 1) * num_images]
        return noise.argsort(dim=1)[:, :self.assigner.num_clusters].to(positions.device)

    @staticmethod
    def _global_mean_scale(local_count, device: torch.device) -> Tensor:
        """``world · local / global`` count: turns a local mean into this rank's share of the
        global mean, so that DDP's gradient average equals the mean over the whole batch."""
        local = torch.as_tensor(local_count, dtype=torch.float32, device=device).reshape(1)
        total = local.clone()
        all_reduce(total)  # sum over ranks; a no-op on one process
        return (local * get_dist_info()[1] / total.clamp_min(1.0)).squeeze(0)

    def _per_view(self, rows: Tensor) -> Tensor:
        """(2M, P) view-major rows → (2, M, P)."""
        return rows.view(self.num_global_views, -1, rows.shape[-1])

    def _token_geometry(self, data_samples: List[DataSample], num_tokens: int
                        ) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        """Stack per-token positions and depths: (B, 2N, 2), (B, 2N), (B, 2N)."""
        needs_depth = self.assigner.alpha_depth != 0
        expected = (self.num_global_views, num_tokens)
        positions, depths, valids = [], [], []
        for index, sample in enumerate(data_samples):
            keys = ['token_pos'] + (['token_depth', 'token_depth_valid'] if needs_depth else [])
            for key in keys:
                if key not in sample:
                    raise KeyError(f'data sample {index} ({sample.get("img_path", "?")}) has no '
                                   f'{key!r}: add it to PackInputs(algorithm_keys=...) and use a '
                                   'pipeline that carries token geometry')
                if tuple(sample.get(key).shape[:2]) != expected:
                    raise ValueError(f'data sample {index}: {key} has shape '
                                     f'{tuple(sample.get(key).shape)}, expected {expected} + ... '
                                     '(two global views, one entry per backbone patch token)')
            positions.append(sample.token_pos.flatten(0, 1))
            if needs_depth:
                depths.append(sample.token_depth.flatten(0, 1))
                valids.append(sample.token_depth_valid.flatten(0, 1))
        positions = torch.stack(positions).float()
        if not needs_depth:
            return positions, None, None
        return positions, torch.stack(depths).float(), torch.stack(valids).bool()

    @staticmethod
    def _checked(losses: Dict[str, Tensor], stats: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Refuse to continue on a non-finite loss, naming it (one host sync per step)."""
        bad = [name for name, value in losses.items() if not torch.isfinite(value).all()]
        if bad:
            values = {name: float(losses[name].detach()) for name in bad}
            raise FloatingPointError(f'non-finite S3PT loss {values}; the other terms were '
                                     f'{ {k: float(v.detach()) for k, v in losses.items()} }. '
                                     'Lower the learning rate, enable gradient clipping, or '
                                     'check the inputs for NaN.')
        losses.update({name: value.detach() for name, value in stats.items()})
        return losses
