"""One-to-one Hungarian matching of set predictions that survives non-finite costs."""
import warnings
from typing import List, Optional

import torch
from mmdet.models.task_modules import AssignResult, BaseAssigner
from mmdet3d.registry import TASK_UTILS
from mmengine.structures import InstanceData
from scipy.optimize import linear_sum_assignment


@TASK_UTILS.register_module()
class HungarianAssigner3D(BaseAssigner):
    """Hungarian matching of Q predictions to G ground truths on a sum of match costs.

    As the official PETR's ``HungarianAssigner3D``: the summed cost matrix is taken to the CPU
    and its non-finite entries are replaced (NaN and +inf -> ``nan_cost``, -inf ->
    ``-nan_cost``, 100 by default) before ``scipy.optimize.linear_sum_assignment``, which would
    otherwise raise on them. A warning names how many predictions produced a non-finite cost
    (and the sample, when ``img_meta`` has ``sample_idx``), so a diverging run is visible.

    Args:
        match_costs (List[dict]): match cost configs (mmdet ``BaseMatchCost`` subclasses, e.g.
            ``mmdet.FocalLossCost`` and :class:`BBox3DL1Cost`), summed.
        nan_cost (float): replacement of non-finite costs. Defaults to 100.
    """

    def __init__(self, match_costs: List[dict], nan_cost: float = 100.0) -> None:
        if isinstance(match_costs, dict):
            match_costs = [match_costs]
        if not match_costs:
            raise ValueError('HungarianAssigner3D needs at least one match cost')
        self.match_costs = [TASK_UTILS.build(cfg) for cfg in match_costs]
        self.nan_cost = float(nan_cost)

    def assign(self, pred_instances: InstanceData, gt_instances: InstanceData,
               img_meta: Optional[dict] = None, **kwargs) -> AssignResult:
        """Match predictions to ground truth.

        Args:
            pred_instances (InstanceData): ``scores`` (Q, K) logits and ``bboxes`` (Q, C) codes.
            gt_instances (InstanceData): ``labels`` (G,) and ``bboxes`` (G, C) codes.
            img_meta (Optional[dict]): used for ``sample_idx`` in the warning.

        Returns:
            AssignResult: ``gt_inds`` (Q,) 0 = background, i + 1 = matched to GT i; ``labels``.
        """
        num_gts = len(gt_instances.labels)
        num_preds = len(pred_instances.scores)
        device = pred_instances.scores.device
        gt_inds = torch.zeros(num_preds, dtype=torch.long, device=device)
        labels = torch.full((num_preds, ), -1, dtype=torch.long, device=device)
        if num_gts == 0 or num_preds == 0:
            return AssignResult(num_gts, gt_inds, None, labels=labels)
        cost = sum(mc(pred_instances, gt_instances, img_meta=img_meta)
                   for mc in self.match_costs)
        cost = cost.detach().cpu()
        bad = ~torch.isfinite(cost)
        if bad.any():
            rows = int(bad.any(dim=1).sum())
            where = '' if img_meta is None else f' in sample {img_meta.get("sample_idx", "?")}'
            warnings.warn(f'HungarianAssigner3D: {rows} of {num_preds} predictions have a '
                          f'non-finite (NaN/inf) matching cost{where}; those costs are set to '
                          f'+-{self.nan_cost:g} (the official PETR rule)')
            cost = torch.nan_to_num(cost, nan=self.nan_cost, posinf=self.nan_cost,
                                    neginf=-self.nan_cost)
        rows, cols = linear_sum_assignment(cost.numpy())
        rows = torch.from_numpy(rows).to(device)
        cols = torch.from_numpy(cols).to(device)
        gt_inds[rows] = cols + 1
        labels[rows] = gt_instances.labels[cols]
        return AssignResult(num_gts, gt_inds, None, labels=labels)
