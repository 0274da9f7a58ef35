"""The CSC objective on pooled features: L_sp, MMPB prototypes, L_pro, epoch switch.

docs/csc.md §3-§5. Independent of any backbone so that it can be tested on plain tensors;
:class:`s3pt_mm.csc.csc_pretrainer.CSCPretrainer` feeds it.
"""
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from .losses import prototype_loss, superpixel_infonce_loss
from .mmpb import MultiModalPrototypeBlender

__all__ = ['CSCCriterion']


class CSCCriterion(nn.Module):
    """L_sp always; L_pro from epoch ``start_epoch`` once prototypes were built.

    With both on, the reference returns ``mean([L_sp, L_pro])``; we return the two terms
    each weighted by 1/2 (``reduction='mean'``) so that mmengine's sum of ``loss*`` keys
    equals it. ``reduction='sum'`` gives ``L_sp + L_pro`` (the paper's Eq. 8 with unit
    weights). SLidR is ``use_prototype_loss=False``.

    Args:
        num_prototypes (int): T, size of the semantic label space of the superpixels.
        channels (int): C, feature dimension. Defaults to 64.
        hidden (int): MMPB hidden width. Defaults to 128.
        sp_temperature (float): L_sp tau. Defaults to 0.07.
        pro_temperature (float): L_pro tau. Defaults to 1.0.
        start_epoch (int): lambda, first (0-based) epoch with L_pro. Defaults to 5.
        use_prototype_loss (bool): False = SLidR. Defaults to True.
        reduction (str): 'mean' (reference) or 'sum'. Defaults to 'mean'.
    """

    def __init__(self, num_prototypes: int, channels: int = 64, hidden: int = 128,
                 sp_temperature: float = 0.07, pro_temperature: float = 1.0,
                 start_epoch: int = 5, use_prototype_loss: bool = True,
                 reduction: str = 'mean') -> None:
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
        self.num_prototypes, self.channels = int(num_prototypes), int(channels)
        self.sp_temperature, self.pro_temperature = sp_temperature, pro_temperature
        self.start_epoch, self.use_prototype_loss = int(start_epoch), bool(use_prototype_loss)
        self.reduction = reduction
        self.mmpb = MultiModalPrototypeBlender(channels, hidden)
        self.register_buffer('pixel_prototypes', torch.zeros(self.num_prototypes, channels))
        self.register_buffer('point_prototypes', torch.zeros(self.num_prototypes, channels))
        self.register_buffer('prototypes_built', torch.zeros((), dtype=torch.bool))
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Tell the criterion the current (0-based) training epoch."""
        self.epoch = int(epoch)

    @property
    def needs_prototypes(self) -> bool:
        """Whether this epoch uses L_pro (so prototypes must be rebuilt before it)."""
        return self.use_prototype_loss and self.epoch >= self.start_epoch

    @property
    def prototype_loss_active(self) -> bool:
        """L_pro is computed: this epoch needs it and prototypes exist."""
        return self.needs_prototypes and bool(self.prototypes_built)

    @torch.no_grad()
    def set_prototypes(self, pixel_prototypes: Tensor, point_prototypes: Tensor) -> None:
        """Install freshly built (T, C) prototypes (row t = class t)."""
        shape = (self.num_prototypes, self.channels)
        if tuple(pixel_prototypes.shape) != shape or tuple(point_prototypes.shape) != shape:
            raise ValueError(f'prototypes must be {shape}, got {tuple(pixel_prototypes.shape)} '
                             f'and {tuple(point_prototypes.shape)}')
        self.pixel_prototypes.copy_(pixel_prototypes)
        self.point_prototypes.copy_(point_prototypes)
        self.prototypes_built.fill_(True)

    def mixed_prototypes(self) -> Tensor:
        """(T, C) MMPB prototypes ``MLP([point_t, pixel_t])``."""
        return self.mmpb(self.point_prototypes, self.pixel_prototypes)

    def forward(self, point_feats: Tensor, pixel_feats: Tensor,
                classes: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Losses of one batch of valid superpixels.

        Args:
            point_feats (Tensor): (K, C) superpoint features.
            pixel_feats (Tensor): (K, C) superpixel features.
            classes (Optional[Tensor]): (K,) class of each superpixel (-1 = none); needed
                when L_pro is active.

        Returns:
            Dict[str, Tensor]: ``loss_sp`` (and ``loss_pro`` when active), weighted so that
            their sum is the training objective; ``sp_infonce`` / ``pro_ce`` unweighted
            values for logging.

        Raises:
            ValueError: if L_pro is active and ``classes`` is None.
        """
        l_sp = superpixel_infonce_loss(point_feats, pixel_feats, self.sp_temperature)
        out = {'sp_infonce': l_sp.detach()}
        if not self.prototype_loss_active:
            out['loss_sp'] = l_sp
            return out
        if classes is None:
            raise ValueError('the prototype loss is active but no superpixel classes were '
                             'given (a SLIC source has none: set use_prototype_loss=False)')
        l_pro = prototype_loss(point_feats, self.mixed_prototypes(), classes,
                               self.pro_temperature)
        weight = 0.5 if self.reduction == 'mean' else 1.0
        out.update(loss_sp=weight * l_sp, loss_pro=weight * l_pro, pro_ce=l_pro.detach())
        return out
