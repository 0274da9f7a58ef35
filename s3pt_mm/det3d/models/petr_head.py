"""PETR's detection head: 3D position-aware memory, object queries, set-prediction loss."""
import copy
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.models.layers.transformer import DetrTransformerDecoder
from mmdet3d.registry import MODELS, TASK_UTILS
from mmdet3d.structures import Det3DDataSample, LiDARInstance3DBoxes
from mmengine.model import BaseModule, bias_init_with_prob
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..box_coding import CENTER_INDICES, CODE_SIZE
from ..geometry import denormalize_coords, inverse_sigmoid, sine_embedding


def _mlp(in_dims: int, embed_dims: int, out_dims: int, num_fcs: int, norm: bool) -> nn.Module:
    """``num_fcs`` x (Linear [+ LayerNorm] + ReLU) followed by a Linear to ``out_dims``."""
    layers: List[nn.Module] = []
    for i in range(num_fcs):
        layers.append(nn.Linear(in_dims if i == 0 else embed_dims, embed_dims))
        if norm:
            layers.append(nn.LayerNorm(embed_dims))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(embed_dims if num_fcs else in_dims, out_dims))
    return nn.Sequential(*layers)


def gt_box_codes(bboxes_3d: LiDARInstance3DBoxes, coder) -> Tensor:
    """Regression targets of ground-truth boxes: gravity centre, size, yaw, velocity -> code.

    Args:
        bboxes_3d (LiDARInstance3DBoxes): G boxes (7 or 9 values; missing velocity = 0).
        coder: an object with ``encode((G, 9)) -> (G, 10)``.

    Returns:
        Tensor: (G, 10) codes.
    """
    tensor = bboxes_3d.tensor
    velocity = tensor[:, 7:9] if tensor.shape[1] >= 9 else tensor.new_zeros(len(tensor), 2)
    boxes = torch.cat([bboxes_3d.gravity_center, tensor[:, 3:7], velocity], dim=1)
    return coder.encode(boxes)


@MODELS.register_module()
class PETRHead(BaseModule):
    """PETR head (Liu et al., "PETR: Position Embedding Transformation for Multi-View 3D Object
    Detection", ECCV 2022).

    Image features of all views are projected to ``embed_dims`` and, with the 3D position
    embedding (:class:`PositionEmbedding3D`) as their key position, form the decoder memory.
    ``num_queries`` learnable 3D reference points in the unit cube give the query positions
    (sine embedding + MLP); a DETR decoder (self-attention, cross-attention to all views, FFN,
    post-norm) refines zero-initialised query content. After every decoder layer a class branch
    and a box branch (one pair shared by all layers, as the official PETR; one pair per layer
    with ``share_branches=False``) predict class logits and a box code
    (:mod:`~s3pt_mm.det3d.box_coding`) whose centre is an offset in logit space of the query's
    reference point. Training matches queries to ground truth one-to-one (Hungarian,
    classification + L1 code costs) per layer and sums focal + L1 losses over layers; inference
    decodes the last layer without NMS. Ground truth outside ``pc_range`` (ground plane) or
    with label -1 is ignored, so the dataset pipeline needs no copy of the range.

    As the official head: feature cells whose image pixels are padding (``img_shape`` smaller
    than the batch input) are masked out of the cross-attention (key padding mask) and of the
    sine encoding's counts; decoder outputs and losses pass through ``nan_to_num``; a
    prediction with a non-finite value is reported by a warning (see
    :class:`HungarianAssigner3D`).

    Args:
        num_classes (int): number of object classes.
        in_channels (int): channels of the input features.
        embed_dims (int): transformer width E. Defaults to 256.
        num_queries (int): object queries. Defaults to 900.
        num_layers (int): decoder layers. Defaults to 6.
        num_heads (int): attention heads. Defaults to 8.
        feedforward_channels (int): FFN hidden width. Defaults to 2048.
        dropout (float): attention and FFN dropout. Defaults to 0.1.
        num_reg_fcs (int): hidden layers of the classification / regression branches.
            Defaults to 2.
        pc_range (Sequence[float]): ``[x_min, y_min, z_min, x_max, y_max, z_max]`` spanned by
            the reference points. Defaults to [-51.2, -51.2, -5, 51.2, 51.2, 3].
        position_embedding (dict): :class:`PositionEmbedding3D` config (``embed_dims`` is
            filled in). Defaults to ``dict(type='PositionEmbedding3D')``.
        bbox_coder (dict): :class:`NMSFreeBBoxCoder` config (``num_classes`` filled in).
        assigner (dict): one-to-one assigner, e.g. ``mmdet.HungarianAssigner`` with
            ``mmdet.FocalLossCost`` and :class:`BBox3DL1Cost`.
        loss_cls (dict): classification loss (sigmoid focal loss).
        loss_bbox (dict): regression loss on codes (L1).
        code_weights (Sequence[float]): per-entry weights of the regression loss. Defaults to
            1 for centre / size / yaw and 0.2 for velocity (PETR).
        share_branches (bool): one class / box branch for all decoder layers (official PETR)
            instead of one per layer. Defaults to True.
        nonfinite_targets (str): ground truth with a non-finite code entry (unknown velocity):
            ``'row'`` drops the whole box from the regression loss (official PETR),
            ``'entry'`` only the non-finite entries. Defaults to ``'row'``.
        init_cfg (Optional[dict]): Defaults to None.
    """

    def __init__(self, num_classes: int, in_channels: int, embed_dims: int = 256,
                 num_queries: int = 900, num_layers: int = 6, num_heads: int = 8,
                 feedforward_channels: int = 2048, dropout: float = 0.1, num_reg_fcs: int = 2,
                 pc_range: Sequence[float] = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0),
                 position_embedding: dict = dict(type='PositionEmbedding3D'),
                 bbox_coder: dict = dict(type='NMSFreeBBoxCoder'),
                 assigner: dict = dict(
                     type='HungarianAssigner3D',
                     match_costs=[dict(type='mmdet.FocalLossCost', weight=2.0),
                                  dict(type='BBox3DL1Cost', weight=0.25)]),
                 loss_cls: dict = dict(type='mmdet.FocalLoss', use_sigmoid=True, gamma=2.0,
                                       alpha=0.25, loss_weight=2.0),
                 loss_bbox: dict = dict(type='mmdet.L1Loss', loss_weight=0.25),
                 code_weights: Sequence[float] = (1.0, ) * 8 + (0.2, 0.2),
                 share_branches: bool = True, nonfinite_targets: str = 'row',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(code_weights) != CODE_SIZE:
            raise ValueError(f'code_weights needs {CODE_SIZE} values, got {len(code_weights)}')
        if len(pc_range) != 6:
            raise ValueError(f'pc_range needs 6 values, got {pc_range}')
        if nonfinite_targets not in ('row', 'entry'):
            raise ValueError(f"nonfinite_targets must be 'row' or 'entry', got "
                             f'{nonfinite_targets!r}')
        self.nonfinite_targets = nonfinite_targets
        self.share_branches = share_branches
        self.num_classes = num_classes
        self.embed_dims = embed_dims
        self.num_queries = num_queries
        self.pc_range = tuple(float(v) for v in pc_range)
        self.register_buffer('code_weights', torch.tensor(code_weights, dtype=torch.float32),
                             persistent=False)

        self.input_proj = nn.Conv2d(in_channels, embed_dims, kernel_size=1)
        self.position_embedding = MODELS.build(dict(position_embedding, embed_dims=embed_dims))
        self.reference_points = nn.Embedding(num_queries, 3)
        self.query_embedding = nn.Sequential(
            nn.Linear(3 * embed_dims // 2, embed_dims), nn.ReLU(inplace=True),
            nn.Linear(embed_dims, embed_dims))
        attn = dict(embed_dims=embed_dims, num_heads=num_heads, dropout=dropout,
                    batch_first=True)
        self.decoder = DetrTransformerDecoder(
            num_layers=num_layers,
            layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=copy.deepcopy(attn),
                           ffn_cfg=dict(embed_dims=embed_dims,
                                        feedforward_channels=feedforward_channels,
                                        ffn_drop=dropout)),
            return_intermediate=True)
        if share_branches:
            # The same module at every index (official PETR): the state dict lists it once per
            # layer, as an official checkpoint does, and parameters() yields it once.
            cls_branch = _mlp(embed_dims, embed_dims, num_classes, num_reg_fcs, norm=True)
            reg_branch = _mlp(embed_dims, embed_dims, CODE_SIZE, num_reg_fcs, norm=False)
            self.cls_branches = nn.ModuleList([cls_branch] * num_layers)
            self.reg_branches = nn.ModuleList([reg_branch] * num_layers)
        else:
            self.cls_branches = nn.ModuleList(
                _mlp(embed_dims, embed_dims, num_classes, num_reg_fcs, norm=True)
                for _ in range(num_layers))
            self.reg_branches = nn.ModuleList(
                _mlp(embed_dims, embed_dims, CODE_SIZE, num_reg_fcs, norm=False)
                for _ in range(num_layers))

        self.bbox_coder = TASK_UTILS.build(dict(bbox_coder, num_classes=num_classes))
        self.assigner = TASK_UTILS.build(assigner)
        self.loss_cls = MODELS.build(loss_cls)
        self.loss_bbox = MODELS.build(loss_bbox)

    def init_weights(self) -> None:
        """Xavier-uniform decoder matrices (DETR / PETR), uniform reference points in the unit
        cube, classifier bias at prior probability 0.01."""
        super().init_weights()
        for param in self.decoder.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        nn.init.uniform_(self.reference_points.weight, 0.0, 1.0)
        for branch in self.cls_branches:
            nn.init.constant_(branch[-1].bias, bias_init_with_prob(0.01))

    # ------------------------------------------------------------------ forward
    def forward(self, feats: Tensor, batch_input_metas: List[dict]) -> Tuple[Tensor, Tensor]:
        """Predict classes and box codes after every decoder layer.

        Args:
            feats (Tensor): (B, N, C, H, W) features of N views.
            batch_input_metas (List[dict]): per sample, ``lidar2img`` (N (4, 4) projections of
                the network input), ``batch_input_shape`` or ``pad_shape`` (input H, W) and
                optionally ``img_shape`` (the unpadded (H, W), or one per view).

        Returns:
            Tuple[Tensor, Tensor]: logits (L, B, Q, num_classes) and codes (L, B, Q, 10) with
            metric centres.
        """
        b, n, _, h, w = feats.shape
        lidar2img = self._stack_lidar2img(batch_input_metas, n, feats.device)
        meta = batch_input_metas[0]
        img_hw = tuple(meta.get('batch_input_shape', meta.get('pad_shape', meta['img_shape'])))
        x = self.input_proj(feats.flatten(0, 1)).view(b, n, self.embed_dims, h, w)
        padding = self._padding_mask(batch_input_metas, n, img_hw[:2], (h, w), feats.device)
        pos = self.position_embedding((h, w), img_hw[:2], lidar2img, padding_mask=padding)
        # Memory tokens ordered (view, row, column): (B, N H W, E).
        memory = x.permute(0, 1, 3, 4, 2).reshape(b, n * h * w, self.embed_dims)
        key_pos = pos.permute(0, 1, 3, 4, 2).reshape(b, n * h * w, self.embed_dims)

        ref = self.reference_points.weight  # (Q, 3) in the unit cube of pc_range
        query_pos = self.query_embedding(sine_embedding(ref, self.embed_dims // 2))
        query_pos = query_pos.unsqueeze(0).expand(b, -1, -1)
        target = torch.zeros_like(query_pos)
        key_padding_mask = None if padding is None else padding.flatten(1)  # (B, N H W)
        hidden = self.decoder(query=target, key=memory, value=memory, query_pos=query_pos,
                              key_pos=key_pos, key_padding_mask=key_padding_mask)
        hidden = torch.nan_to_num(hidden)  # (L, B, Q, E), as the official head

        ref_logit = inverse_sigmoid(ref)
        centre = torch.tensor(CENTER_INDICES, device=feats.device)
        all_cls, all_reg = [], []
        for layer, out in enumerate(hidden):
            codes = self.reg_branches[layer](out)
            # The centre is an offset of the reference point in logit space (PETR / DETR3D).
            centre_n = (codes.index_select(-1, centre) + ref_logit).sigmoid()
            codes = codes.index_copy(-1, centre, denormalize_coords(centre_n, self.pc_range))
            all_cls.append(self.cls_branches[layer](out))
            all_reg.append(codes)
        return torch.stack(all_cls), torch.stack(all_reg)

    @staticmethod
    def _padding_mask(metas: List[dict], num_views: int, input_hw: Tuple[int, int],
                      feat_hw: Tuple[int, int], device: torch.device) -> Optional[Tensor]:
        """(B, N, H, W) bool, True on feature cells of image padding; None without padding.

        As the official head: a pixel mask (1 outside each view's ``img_shape``) is resized to
        the feature map by nearest neighbour, so a cell is padding iff its top-left pixel is.
        """
        masks, any_pad = [], False
        for meta in metas:
            shape = meta.get('img_shape', input_hw)
            shapes = (list(shape) if len(shape) and isinstance(shape[0], (tuple, list))
                      else [shape] * num_views)
            if len(shapes) != num_views:
                raise ValueError(f'sample {meta.get("sample_idx", "?")}: img_shape lists '
                                 f'{len(shapes)} views, features have {num_views}')
            mask = torch.ones(num_views, *input_hw, device=device)
            for view, hw in enumerate(shapes):
                mask[view, :int(hw[0]), :int(hw[1])] = 0
                any_pad |= int(hw[0]) < input_hw[0] or int(hw[1]) < input_hw[1]
            masks.append(mask)
        if not any_pad:
            return None
        return F.interpolate(torch.stack(masks), size=feat_hw).bool()

    @staticmethod
    def _stack_lidar2img(metas: List[dict], num_views: int, device: torch.device) -> Tensor:
        mats = []
        for meta in metas:
            if 'lidar2img' not in meta:
                raise ValueError(f'sample {meta.get("sample_idx", "?")} has no lidar2img in its '
                                 'metainfo (add MultiViewResizeCropFlip to the pipeline and keep '
                                 'lidar2img in Pack3DDetInputs.meta_keys)')
            mat = np.asarray(meta['lidar2img'], dtype=np.float64)
            if mat.shape != (num_views, 4, 4):
                raise ValueError(f'sample {meta.get("sample_idx", "?")}: lidar2img has shape '
                                 f'{mat.shape}, expected ({num_views}, 4, 4)')
            mats.append(mat)
        return torch.from_numpy(np.stack(mats)).to(device)

    # --------------------------------------------------------------------- loss
    def loss(self, feats: Tensor, batch_data_samples: List[Det3DDataSample]) -> Dict[str, Tensor]:
        """Forward and set-prediction losses.

        Args:
            feats (Tensor): (B, N, C, H, W).
            batch_data_samples (List[Det3DDataSample]): with ``gt_instances_3d``.

        Returns:
            Dict[str, Tensor]: ``loss_cls`` / ``loss_bbox`` of the last layer and
            ``d{i}.loss_cls`` / ``d{i}.loss_bbox`` of the earlier ones.
        """
        metas = [s.metainfo for s in batch_data_samples]
        cls_scores, bbox_preds = self(feats, metas)
        gts = [s.gt_instances_3d for s in batch_data_samples]
        return self.loss_by_feat(cls_scores, bbox_preds, gts)

    def loss_by_feat(self, cls_scores: Tensor, bbox_preds: Tensor,
                     batch_gt_instances_3d: List[InstanceData]) -> Dict[str, Tensor]:
        """Sum of per-layer losses (see :meth:`loss`).

        Args:
            cls_scores (Tensor): (L, B, Q, num_classes).
            bbox_preds (Tensor): (L, B, Q, 10).
            batch_gt_instances_3d (List[InstanceData]): ``bboxes_3d`` and ``labels_3d``.

        Returns:
            Dict[str, Tensor]: losses.
        """
        self._warn_nonfinite(cls_scores, bbox_preds)
        gt_codes, gt_labels = [], []
        for gt in batch_gt_instances_3d:
            codes = gt_box_codes(gt.bboxes_3d, self.bbox_coder).to(bbox_preds)
            labels = gt.labels_3d.to(bbox_preds.device)
            keep = self._valid_targets(codes, labels)
            gt_codes.append(codes[keep])
            gt_labels.append(labels[keep])
        losses = {}
        num_layers = cls_scores.shape[0]
        for layer in range(num_layers):
            loss_cls, loss_bbox = self._loss_single(cls_scores[layer], bbox_preds[layer],
                                                    gt_codes, gt_labels)
            prefix = '' if layer == num_layers - 1 else f'd{layer}.'
            losses[f'{prefix}loss_cls'] = loss_cls
            losses[f'{prefix}loss_bbox'] = loss_bbox
        return losses

    @staticmethod
    def _warn_nonfinite(cls_scores: Tensor, bbox_preds: Tensor) -> None:
        """Warn, naming layer, sample and query, when predictions are NaN / inf."""
        bad = ~(torch.isfinite(cls_scores).all(-1) & torch.isfinite(bbox_preds).all(-1))
        if bad.any():
            layer, sample, query = (int(v) for v in torch.nonzero(bad)[0])
            warnings.warn(f'PETRHead: {int(bad.sum())} query predictions are non-finite '
                          f'(NaN/inf), first at decoder layer {layer}, sample {sample}, query '
                          f'{query}; their matching costs become 100 (as the official PETR) and '
                          'their non-finite values count as 0 in the loss')

    def _valid_targets(self, codes: Tensor, labels: Tensor) -> Tensor:
        """Ground truth the queries can represent: a known class and a centre inside
        ``pc_range`` on the ground plane (reference points cannot leave it; this is
        mmdet3d's ``ObjectRangeFilter`` done where the range is defined)."""
        rng = codes.new_tensor(self.pc_range)
        inside = ((codes[:, 0] >= rng[0]) & (codes[:, 0] <= rng[3]) & (codes[:, 1] >= rng[1])
                  & (codes[:, 1] <= rng[4]))
        return inside & (labels >= 0) & (labels < self.num_classes)

    def _loss_single(self, cls_scores: Tensor, bbox_preds: Tensor, gt_codes: List[Tensor],
                     gt_labels: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """Losses of one decoder layer: Hungarian targets, focal loss, weighted L1."""
        labels, code_targets, code_weights = [], [], []
        for scores, codes, gt_code, gt_label in zip(cls_scores, bbox_preds, gt_codes, gt_labels):
            num_q = scores.shape[0]
            label = gt_label.new_full((num_q, ), self.num_classes)  # background
            target = codes.new_zeros(codes.shape)
            weight = codes.new_zeros(codes.shape)
            if len(gt_label):
                assign = self.assigner.assign(
                    InstanceData(scores=scores.detach(), bboxes=codes.detach()),
                    InstanceData(labels=gt_label, bboxes=gt_code))
                pos = torch.nonzero(assign.gt_inds > 0).squeeze(1)
                matched = assign.gt_inds[pos] - 1
                label[pos] = gt_label[matched]
                target[pos] = gt_code[matched]
                weight[pos] = 1.0
            labels.append(label)
            code_targets.append(target)
            code_weights.append(weight)
        labels = torch.cat(labels)
        target = torch.cat(code_targets)
        # Unknown velocities are NaN in some info files: no gradient for those boxes (official)
        # or only for those entries.
        finite = torch.isfinite(target)
        if self.nonfinite_targets == 'row':
            finite = finite.all(-1, keepdim=True).expand_as(finite)
        weight = torch.cat(code_weights) * finite * self.code_weights
        target = torch.where(finite, target, torch.zeros_like(target))
        num_pos = max(float((labels < self.num_classes).sum()), 1.0)
        # A non-finite prediction would make the whole layer's loss NaN (the official head then
        # zeroes it with nan_to_num): it counts as 0 here, without gradient, so the other
        # queries keep training.
        cls_scores = torch.nan_to_num(cls_scores, nan=0.0, posinf=0.0, neginf=0.0)
        bbox_preds = torch.nan_to_num(bbox_preds, nan=0.0, posinf=0.0, neginf=0.0)
        loss_cls = self.loss_cls(cls_scores.flatten(0, 1), labels, avg_factor=num_pos)
        loss_bbox = self.loss_bbox(bbox_preds.flatten(0, 1), target, weight, avg_factor=num_pos)
        return torch.nan_to_num(loss_cls), torch.nan_to_num(loss_bbox)

    # ------------------------------------------------------------------ predict
    def predict(self, feats: Tensor, batch_data_samples: List[Det3DDataSample]
                ) -> List[InstanceData]:
        """Detections of every sample from the last decoder layer.

        Args:
            feats (Tensor): (B, N, C, H, W).
            batch_data_samples (List[Det3DDataSample]): samples (metainfo is used).

        Returns:
            List[InstanceData]: per sample ``bboxes_3d`` (LiDAR boxes with velocity),
            ``scores_3d`` and ``labels_3d``.
        """
        metas = [s.metainfo for s in batch_data_samples]
        cls_scores, bbox_preds = self(feats, metas)
        return self.predict_by_feat(cls_scores, bbox_preds, metas)

    def predict_by_feat(self, cls_scores: Tensor, bbox_preds: Tensor,
                        batch_input_metas: List[dict]) -> List[InstanceData]:
        """Decode the last layer's predictions (see :meth:`predict`)."""
        results = []
        for scores, codes, meta in zip(cls_scores[-1], bbox_preds[-1], batch_input_metas):
            dets = self.bbox_coder.decode(scores, codes)
            box_type = meta.get('box_type_3d', LiDARInstance3DBoxes)
            results.append(InstanceData(
                bboxes_3d=box_type(dets['bboxes'], box_dim=9, origin=(0.5, 0.5, 0.5)),
                scores_3d=dets['scores'], labels_3d=dets['labels']))
        return results
