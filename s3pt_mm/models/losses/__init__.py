from .cross_image_loss import cross_image_loss
from .cross_view_loss import cross_view_loss
from .soft_cross_entropy import soft_cross_entropy, zero_loss_like

__all__ = ['cross_image_loss', 'cross_view_loss', 'soft_cross_entropy', 'zero_loss_like']
