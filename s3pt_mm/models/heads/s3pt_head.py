"""DINO projection head with an object last layer, vMF normalisation and centering
(docs/method.md §2, §3)."""
from typing import Dict, Iterator, List, NamedTuple, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS
from torch import Tensor, nn
from torch.nn.utils.parametrizations import weight_norm

from s3pt_mm.models.utils.center import Center
from s3pt_mm.models.utils.prototype_logits import (logit_centered_target,
                                                   probability_centered_target, prototype_logits)

CLS = 'cls'
OBJECT = 'object'
CENTERINGS = ('logit', 'probability')


class ProjectionOutput(NamedTuple):
    """What the head's forward returns for N input tokens.

    Attributes:
        logits (Tensor): (N, P) ``l_k = ⟨w_k, y⟩``, y the unit bottleneck vector.
        prototype_norms (Tensor): (P,) fp32 ``‖w_k‖`` (= g_k of the weight norm).
    """

    logits: Tensor
    prototype_norms: Tensor


def _build_mlp(in_channels: int, hidden_channels: int, bottleneck_channels: int,
               num_layers: int) -> nn.Sequential:
    """DINO's MLP: Linear–GELU repeated, the last Linear without activation."""
    if num_layers < 1:
        raise ValueError(f'num_layers must be >= 1, got {num_layers}')
    if num_layers == 1:
        return nn.Sequential(nn.Linear(in_channels, bottleneck_channels))
    layers: List[nn.Module] = [nn.Linear(in_channels, hidden_channels), nn.GELU()]
    for _ in range(num_layers - 2):
        layers += [nn.Linear(hidden_channels, hidden_channels), nn.GELU()]
    layers.append(nn.Linear(hidden_channels, bottleneck_channels))
    for layer in layers:
        if isinstance(layer, nn.Linear):  # DINO's init: truncated normal, std 0.02, zero bias
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def _build_last_layer(bottleneck_channels: int, out_channels: int,
                      learnable_gain: bool) -> nn.Linear:
    """Weight-normalised Linear(bottleneck, P, bias=False): ``w_k = g_k · v_k / ‖v_k‖``.

    Uses ``torch.nn.utils.parametrizations.weight_norm`` (deep-copyable for the EMA teacher;
    state-dict keys ``parametrizations.weight.original0`` = g (P, 1) and ``original1`` = v
    (P, bottleneck)). g starts at 1, as in DINO.
    """
    layer = weight_norm(nn.Linear(bottleneck_channels, out_channels, bias=False))
    gain = layer.parametrizations.weight.original0
    with torch.no_grad():
        gain.fill_(1.0)
    gain.requires_grad_(learnable_gain)
    return layer


@MODELS.register_module()
class S3PTHead(BaseModule):
    """DINO projection head with a second (object) last layer, optional vMF normalisation.

    ``MLP (Linear(D, 2048)–GELU–Linear(2048, 2048)–GELU–Linear(2048, 256)) → L2-normalise →
    weight-normalised Linear(256, P, bias=False)`` (DINO, Caron et al. 2021); the object last
    layer has the same shape and shares the MLP (CrIBo; docs/method.md §2).

    The teacher is an EMA copy of the student's network (this head included); the **student's**
    head owns the temperatures and the centers: call :meth:`student_log_prob` on the student's
    projections and :meth:`teacher_target` on the teacher's projections, both on the student's
    head (the EMA copy's centers are never updated and are overwritten by the EMA's buffer
    sync, so they must not be used).

    Targets (docs/method.md §3.2), per output (``'cls'`` and ``'object'``, each with its
    own center):

    - ``centering='logit'`` (DINO): ``softmax((l − c) / τ_t)``, ``c ← m·c + (1 − m)·mean(l)``,
      c initialised to 0. With ``use_vmf=False`` the head is exactly DINO's.
    - ``centering='probability'`` (vMF-DINO): ``z = logit(τ_t)``, target ``softmax(z − log
      c)``, ``c ← m·c + (1 − m)·mean(softmax(z))``, c initialised to 1/P.

    where ``logit_k(τ) = l_k/τ + log C_p(‖w_k‖/τ)`` with vMF, ``l_k/τ`` without; the student
    uses ``log_softmax(logit(τ_s))``. The batch mean is taken over the rows of all ranks.
    Order (DINO, CrIBo): every target of a step uses the center *before* this step, then the
    center is updated once with the current batch's teacher outputs. For the object output,
    CrIBo also centres the queue neighbours' targets with that pre-update center: compute every
    object target with ``update_center=False`` and call :meth:`update_center` last
    (docs/method.md §6.3).

    Args:
        in_channels (int): D, the backbone width.
        out_channels (int): P, prototypes of the CLS last layer. Defaults to 65536.
        hidden_channels (int): MLP width. Defaults to 2048.
        bottleneck_channels (int): p, the bottleneck (vMF dimension). Defaults to 256.
        num_layers (int): Linear layers of the MLP. Defaults to 3.
        norm_last_layer (bool): freeze the weight-norm gain g at 1 (DINO); vMF needs False to
            learn the concentrations. Defaults to True.
        with_object_head (bool): build the object last layer (False for plain DINO, so that
            no parameter is left unused). Defaults to True.
        object_out_channels (int, optional): prototypes of the object last layer. Defaults to
            ``out_channels``.
        use_vmf (bool): add ``log C_p(‖w_k‖/τ)`` to the logits. Defaults to False.
        centering (str, optional): ``'logit'`` or ``'probability'``; None picks
            ``'probability'`` with vMF and ``'logit'`` without. vMF with logit centering is
            refused: subtracting the mean logit cancels the per-prototype log C_p term.
        center_momentum (float): m. Defaults to 0.9.
        teacher_temp (float): initial τ_t of both outputs (a hook schedules it). Defaults to
            0.04.
        student_temp (float): τ_s of both outputs. Defaults to 0.1.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int = 65536,
                 hidden_channels: int = 2048,
                 bottleneck_channels: int = 256,
                 num_layers: int = 3,
                 norm_last_layer: bool = True,
                 with_object_head: bool = True,
                 object_out_channels: Optional[int] = None,
                 use_vmf: bool = False,
                 centering: Optional[str] = None,
                 center_momentum: float = 0.9,
                 teacher_temp: float = 0.04,
                 student_temp: float = 0.1,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if centering is None:
            centering = 'probability' if use_vmf else 'logit'
        if centering not in CENTERINGS:
            raise ValueError(f'centering must be one of {CENTERINGS}, got {centering!r}')
        if use_vmf and centering == 'logit':
            raise ValueError("use_vmf=True needs centering='probability': logit centering "
                             'subtracts the mean logit and so cancels the per-prototype log C_p '
                             'term (docs/method.md §3.2)')
        self.use_vmf = use_vmf
        self.centering = centering
        self.bottleneck_channels = bottleneck_channels
        self.mlp = _build_mlp(in_channels, hidden_channels, bottleneck_channels, num_layers)
        self.last_layer = _build_last_layer(bottleneck_channels, out_channels,
                                            learnable_gain=not norm_last_layer)
        object_out_channels = object_out_channels or out_channels
        self.object_last_layer = (
            _build_last_layer(bottleneck_channels, object_out_channels,
                              learnable_gain=not norm_last_layer)
            if with_object_head else None)

        def make_center(num: int) -> Center:
            init = 1.0 / num if centering == 'probability' else 0.0
            return Center(num, init_value=init, momentum=center_momentum)

        centers = {CLS: make_center(out_channels)}
        if with_object_head:
            centers[OBJECT] = make_center(object_out_channels)
        self.centers = nn.ModuleDict(centers)
        self._teacher_temps: Dict[str, float] = {name: 0.0 for name in centers}
        self.set_teacher_temp(teacher_temp)
        self.student_temp = 0.0
        self.set_student_temp(student_temp)
        self._last_layer_frozen = False

    # ------------------------------------------------------------------ projection
    def _last(self, which: str) -> nn.Linear:
        if which == CLS:
            return self.last_layer
        if which == OBJECT and self.object_last_layer is not None:
            return self.object_last_layer
        raise ValueError(f"which must be '{CLS}'" +
                         (f" or '{OBJECT}'" if self.object_last_layer is not None else
                          ' (built with with_object_head=False)') + f', got {which!r}')

    def forward(self, x: Tensor, which: str = CLS) -> ProjectionOutput:
        """Project tokens onto the prototypes of one last layer.

        Args:
            x (Tensor): (N, D) CLS tokens (``which='cls'``) or object tokens
                (``which='object'``) in backbone space.
            which (str): ``'cls'`` or ``'object'``. Defaults to ``'cls'``.

        Returns:
            ProjectionOutput: logits (N, P) and prototype_norms (P,).
        """
        layer = self._last(which)
        # Normalise in fp32: under fp16 autocast the MLP output would be normalised in fp16.
        y = F.normalize(self.mlp(x).float(), dim=-1)
        weight = layer.weight  # (P, p), recomputed from g and v by the parametrization
        logits = F.linear(y, weight)
        return ProjectionOutput(logits, torch.linalg.vector_norm(weight.float(), dim=1))

    def _tempered(self, out: ProjectionOutput, temp: float) -> Tensor:
        return prototype_logits(out.logits, out.prototype_norms, temp,
                                self.bottleneck_channels if self.use_vmf else None)

    # ------------------------------------------------------------------ distributions
    def student_log_prob(self, out: ProjectionOutput, which: str = CLS) -> Tensor:
        """Student log-probabilities ``log_softmax(logit(τ_s))``.

        Args:
            out (ProjectionOutput): the student head's projection of N tokens.
            which (str): ``'cls'`` or ``'object'`` (only validated; τ_s is shared).

        Returns:
            Tensor: (N, P) fp32 log-probabilities, differentiable.
        """
        self._last(which)
        return torch.log_softmax(self._tempered(out, self.student_temp), dim=-1)

    @torch.no_grad()
    def teacher_target(self, out: ProjectionOutput, which: str = CLS,
                       update_center: bool = True) -> Tensor:
        """Centred, sharpened teacher probabilities, then (optionally) the center update.

        Call once per step per output with **all** of this step's teacher rows of that output
        (both views) so that the center sees the whole batch; pass ``update_center=False`` for
        extra targets that must not move the center (the queue neighbours, as in CrIBo). The
        update is a collective when distributed: all ranks must call it, even with N = 0.

        Args:
            out (ProjectionOutput): the **teacher** head's projection of N tokens.
            which (str): ``'cls'`` or ``'object'``: selects τ_t and the center.
            update_center (bool): fold this batch into the center afterwards. Defaults to True.

        Returns:
            Tensor: (N, P) fp32 probabilities (no gradient).
        """
        self._last(which)
        center, temp = self.centers[which], self._teacher_temps[which]
        if self.centering == 'logit':
            target = logit_centered_target(out.logits, center.value, temp)
            statistic = out.logits.float()
        else:
            tempered = self._tempered(out, temp)
            target = probability_centered_target(tempered, center.value)
            statistic = torch.softmax(tempered, dim=-1)
        # DINO order: the targets above used the previous center; update it only now.
        if update_center:
            center.update(statistic)
        return target

    @torch.no_grad()
    def update_center(self, out: ProjectionOutput, which: str = CLS) -> None:
        """Fold this step's teacher rows of one output into its center.

        The statistic is the one :meth:`teacher_target` would fold in: the raw logits (logit
        centering) or ``softmax(logit(τ_t))`` (probability centering). A collective when
        distributed: all ranks must call it, even with N = 0.

        Args:
            out (ProjectionOutput): the **teacher** head's projection of this step's N rows.
            which (str): ``'cls'`` or ``'object'``.
        """
        self._last(which)
        if self.centering == 'logit':
            statistic = out.logits.float()
        else:
            statistic = torch.softmax(self._tempered(out, self._teacher_temps[which]), dim=-1)
        self.centers[which].update(statistic)

    # ------------------------------------------------------------------ schedules
    def set_teacher_temp(self, temp: float, which: Optional[str] = None) -> None:
        """Set τ_t of one output (``'cls'``/``'object'``) or, with None, of all outputs."""
        if temp <= 0:
            raise ValueError(f'teacher temperature must be > 0, got {temp}')
        names = list(self._teacher_temps) if which is None else [which]
        for name in names:
            if name not in self._teacher_temps:
                raise ValueError(f'unknown head output {name!r}, expected one of '
                                 f'{list(self._teacher_temps)}')
            self._teacher_temps[name] = float(temp)

    def get_teacher_temp(self, which: str = CLS) -> float:
        """Current τ_t of an output."""
        return self._teacher_temps[which]

    def set_student_temp(self, temp: float) -> None:
        """Set τ_s (shared by both outputs)."""
        if temp <= 0:
            raise ValueError(f'student temperature must be > 0, got {temp}')
        self.student_temp = float(temp)

    def last_layer_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of both last layers (g and v)."""
        for layer in (self.last_layer, self.object_last_layer):
            if layer is not None:
                yield from layer.parameters()

    def freeze_last_layer(self, frozen: bool = True) -> None:
        """Mark the last layers frozen (DINO freezes them for the first epoch(s)).

        Only records the state; :meth:`cancel_last_layer_grad` applies it.
        """
        self._last_layer_frozen = bool(frozen)

    @property
    def last_layer_frozen(self) -> bool:
        return self._last_layer_frozen

    def cancel_last_layer_grad(self) -> None:
        """Drop the last layers' gradients (``grad = None``) while frozen.

        DINO's ``cancel_gradients_last_layer``: call it after backward (and gradient clipping)
        and before the optimizer step, e.g. from an optimizer step pre-hook
        (``optimizer.register_step_pre_hook``). The gradients were still computed and
        all-reduced by DDP, so the parameters stay in sync; with ``grad = None`` AdamW skips
        them entirely (no step, no weight decay, no moment update), exactly as in DINO.
        """
        if not self._last_layer_frozen:
            return
        for param in self.last_layer_parameters():
            param.grad = None

    def extra_repr(self) -> str:
        return (f'use_vmf={self.use_vmf}, centering={self.centering!r}, '
                f'teacher_temps={self._teacher_temps}, student_temp={self.student_temp}')
