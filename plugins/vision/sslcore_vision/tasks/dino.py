"""DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ConfigError, TaskOutput
from sslcore.contrast import dino_loss, update_center
from sslcore.engine.schedule import linear_warmup
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import DINOHead
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, Probability, image_facts
from sslcore_vision.tasks.momentum_target import MomentumTarget
from sslcore_vision.transforms import MultiCropCollate, dino_augmentations

Fraction = Annotated[float, Interval(gt=0, le=1)]
Augmentation = Callable[[Tensor], Tensor]


def teacher_entropy(teacher: Tensor, center: Tensor, temperature: float) -> Tensor:
    r"""The mean entropy (nats) of the teacher's centred, sharpened distributions, detached:

    .. math::
        \bar H = \frac1B \sum_{b=1}^{B} -\sum_{k=1}^{K} P_{bk} \log P_{bk}, \qquad
        P = \mathrm{softmax}\big((t - c) / \tau_t\big)

    over the rows ``B`` of ``teacher`` ``[..., K]`` logits (the targets the loss sees), in
    fp32. :math:`\log K` is the uniform distribution (collapse by flattening, what too much
    centring gives); near 0 each row is one-hot (a collapse to one prototype when every row
    picks the same, what too much sharpening gives; DINO's paper watches both).
    A 0-d tensor on ``teacher``'s device (no host sync)."""
    with torch.no_grad():
        logp = torch.log_softmax((teacher.float() - center.float()) / temperature, dim=-1)
        return -(logp.exp() * logp).sum(dim=-1).mean()


def dino_views(task: str, global_scale: tuple[float, float], local_scale: tuple[float, float]) -> Any:
    """The ``from_data`` classmethod of a DINO-style ``task``: DINO's multi-crop
    (:func:`~sslcore_vision.transforms.dino_augmentations`) with these default crop areas.
    The task's ``__init__`` takes ``(encoder, global_augmentation, local_augmentation, **options)``."""

    def from_data(
        cls: Any,
        encoder: nn.Module,
        info: Mapping[str, Any],
        local_size: Fraction = 0.43,
        global_scale: tuple[Fraction, Fraction] = global_scale,
        local_scale: tuple[Fraction, Fraction] = local_scale,
        blur: tuple[Probability, Probability, Probability] = (1.0, 0.1, 0.5),
        solarize: tuple[Probability, Probability, Probability] = (0.0, 0.2, 0.0),
        **options: Any,
    ) -> ImageViewsTask:
        """DINO's multi-crop views from ``info``; other options (``num_global``, ``num_local``...)
        go to ``__init__``.

        ``local_size``: side of a local crop as a fraction of the image side (96/224 = 0.43).
        ``global_scale``: range of a global crop's area fraction.
        ``local_scale``: range of a local crop's area fraction.
        ``blur``: Gaussian blur probability of global crop 1, global crop 2 and the local crops.
        ``solarize``: solarize probability of global crop 1, global crop 2 and the local crops.
        """
        facts = image_facts(encoder, info, task)
        globals_, local = dino_augmentations(*facts, local_size, global_scale, local_scale, blur, solarize)
        built = cls(encoder, globals_, local, **options)
        built.check_global_crops((facts.channels, facts.image_size, facts.image_size))
        return built

    return classmethod(from_data)


class DINO(ImageViewsTask):
    r"""Self-distillation without labels: the student matches a centred, sharpened momentum
    teacher's distribution over ``out_dim`` prototypes, from every other crop.

    .. math::
        s_v = h(f(x_v)), \quad t_a = h_\xi(f_\xi(x_a)), \qquad
        \mathcal{L} = \frac{1}{|\mathcal{P}|} \sum_{(a, v) \in \mathcal{P}}
            \text{CE}\big(\text{softmax}((t_a - c)/\tau_t),\ \text{softmax}(s_v/\tau_s)\big)

    over pairs of a global crop ``a`` (the teacher sees only the global crops ``[N, C, S, S]``)
    and any other crop ``v`` (the student also sees the local crops ``[N, C, s, s]``),
    :func:`sslcore.contrast.dino_loss`, with ``h`` a :class:`~sslcore_vision.heads.DINOHead`,
    the teacher :math:`\xi` the EMA of the student ``(f, h)`` with momentum
    :math:`m = 1 - (1 - m_0)(\cos(\pi p) + 1)/2` over training progress ``p``, the centre
    ``c`` ``[1, out_dim]`` the EMA of the teacher's batch mean
    (:func:`sslcore.contrast.update_center`), and :math:`\tau_t` rising linearly
    (:func:`sslcore.engine.schedule.linear_warmup`). The teacher, the centre and the
    progress change only in :meth:`on_train_step_end`; the teacher gets no gradient.

    Options: ``num_global``: global crops, the teacher's (the paper's 2).
    ``num_local``: local crops, the student's only (the paper's 6-10, 2 on a CPU budget).
    ``out_dim``: prototypes of the head's last layer (the paper's 65536).
    ``hidden_dim``: width of the head's MLP (the paper's 2048).
    ``bottleneck_dim``: the head's L2-normalised bottleneck (the paper's 256).
    ``norm_last_layer``: keep the last layer's weight-norm gain at 1 (the paper's stabiliser).
    ``head_batch_norm``: BatchNorm in the head's MLP (the reference's ``use_bn_in_head``; off,
    as for the paper's ViTs).
    ``student_temperature``: the student's softmax temperature (0.1).
    ``teacher_temperature``: the teacher's (sharpening) temperature after the warm-up (0.04, the paper's 0.04-0.07).
    ``warmup_teacher_temperature``: the teacher's temperature at the start of training (0.04).
    ``teacher_temperature_warmup``: fraction of training over which the teacher's temperature
    moves to ``teacher_temperature`` (0.1: 30 of the paper's 300 epochs).
    ``center_momentum``: momentum of the centre's EMA (0.9).
    ``base_momentum``: the teacher's EMA momentum at the start, rising to 1 (0.996).
    ``freeze_last_layer``: steps during which the last layer gets no gradient (the paper: 1 epoch).

    Batch: the tuple of ``V = num_global + num_local`` views.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the student encoder ``f``.
    Metrics (collapse monitoring, from the teacher outputs the loss uses, no extra pass):
    ``teacher_entropy``, the mean entropy of the teacher's centred, sharpened distribution
    (:func:`teacher_entropy`; ``log(out_dim)``: uniform, collapsed by flattening; near 0
    and constant across images: collapsed to one prototype), and ``teacher_temperature``,
    :math:`\tau_t` this step.
    """

    signal = "self-distillation: a centred, sharpened momentum teacher's distribution across crops"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        global_augmentation: Augmentation | Sequence[Augmentation],
        local_augmentation: Augmentation,
        num_global: Annotated[int, Ge(1)] = 2,
        num_local: Annotated[int, Ge(0)] = 2,
        out_dim: Annotated[int, Ge(1)] = 4096,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        bottleneck_dim: Annotated[int, Ge(1)] = 128,
        norm_last_layer: bool = True,
        head_batch_norm: bool = False,
        student_temperature: Annotated[float, Gt(0)] = 0.1,
        teacher_temperature: Annotated[float, Gt(0)] = 0.04,
        warmup_teacher_temperature: Annotated[float, Gt(0)] = 0.04,
        teacher_temperature_warmup: Annotated[float, Interval(ge=0, le=1)] = 0.1,
        center_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.9,
        base_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.996,
        freeze_last_layer: Annotated[int, Ge(0)] = 0,
        augment_on: AugmentOn = "auto",
    ):
        name = type(self).__name__.lower()
        if num_global + num_local < 2:
            raise ConfigError(
                f"{name} needs at least 2 crops (a student crop other than the teacher's), got "
                f"num_global={num_global} and num_local={num_local}; use e.g. num_global=2"
            )
        head = DINOHead(
            encoder.output_dim,
            out_dim,
            hidden_dim,
            bottleneck_dim,
            norm_last_layer=norm_last_layer,
            batch_norm=head_batch_norm,
        )
        views = MultiCropCollate(global_augmentation, local_augmentation, num_local, num_global)
        super().__init__(encoder, head, views, augment_on)
        self.teacher = MomentumTarget(self.encoder, self.head, base_momentum=base_momentum, ramp=True)
        self.num_global, self.num_local = num_global, num_local
        self.student_temperature = student_temperature
        self.teacher_temperatures = (
            warmup_teacher_temperature,
            teacher_temperature,
            teacher_temperature_warmup,
        )
        self.center_momentum, self.freeze_last_layer = center_momentum, freeze_last_layer
        self.register_buffer("center", torch.zeros(1, out_dim))
        self.register_buffer("progress", torch.zeros(()))
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        # host copies: reading a buffer in forward would sync a GPU every step
        self._progress, self._steps_done = 0.0, 0
        self.register_load_state_dict_post_hook(DINO._read_progress)
        self._teacher_outputs: list[Tensor] = []  # this step's, for the centres (on_train_step_end)

    from_data = dino_views("dino", global_scale=(0.4, 1.0), local_scale=(0.05, 0.4))

    @staticmethod
    def _read_progress(module: nn.Module, incompatible_keys: object) -> None:
        module._progress, module._steps_done = float(module.progress), int(module.steps_done)

    def teacher_temperature_at(self, progress: float | None = None) -> float:
        """:math:`\\tau_t` at training ``progress`` (default: the progress reached so far)."""
        start, end, warmup = self.teacher_temperatures
        return linear_warmup(self._progress if progress is None else progress, start, end, warmup)

    @property
    def last_layer_frozen(self) -> bool:
        """Whether this step's last layer gets no gradient (the first ``freeze_last_layer`` steps)."""
        return self._steps_done < self.freeze_last_layer

    def check_global_crops(self, shape: tuple[int, int, int]) -> None:
        """Called by ``from_data`` with the global crops' ``(C, H, W)``: raise
        :class:`~sslcore.ConfigError` for a size the task cannot use (DINO: any size works;
        iBOT checks its CNN mask grid)."""

    def student_views(self, views: Sequence[Tensor]) -> Tensor:
        """``[V N, out_dim]`` student logits: one encoder pass per crop resolution, one head pass."""
        g = self.num_global
        groups = [torch.cat(views[:g])] + ([torch.cat(views[g:])] if len(views) > g else [])
        features = torch.cat([self.encoder(group) for group in groups])
        return self.head(features, frozen_last_layer=self.last_layer_frozen)

    def forward(self, batch: tuple[Tensor, ...] | StackedImages) -> TaskOutput:
        views = self.as_views(batch)
        n = len(views[0])
        student = self.student_views(views).split(n)  # V x [N, out_dim]
        teacher = self.teacher(torch.cat(views[: self.num_global]))  # [G N, out_dim], no gradient
        temperature = self.teacher_temperature_at()
        loss = dino_loss(student, teacher.split(n), self.center, self.student_temperature, temperature)
        if self.training:
            self._teacher_outputs = [teacher]
        return TaskOutput(loss, self.teacher_metrics(teacher, temperature))

    def teacher_metrics(self, teacher: Tensor, temperature: float) -> dict[str, float | Tensor]:
        """The collapse metrics of this step's teacher [CLS] logits ``[G N, out_dim]``:
        ``teacher_entropy`` (a 0-d device tensor) and ``teacher_temperature`` (the host float)."""
        return {
            "teacher_entropy": teacher_entropy(teacher, self.center, temperature),
            "teacher_temperature": temperature,
        }

    def update_centers(self) -> None:
        """The centre's EMA step from this step's teacher outputs (iBOT adds its patch centre)."""
        (teacher,) = self._teacher_outputs
        self.center.copy_(update_center(self.center, teacher, self.center_momentum))

    def on_train_step_end(self, progress: float) -> None:
        self.teacher.update(self.encoder, self.head, progress=progress)
        if self._teacher_outputs:
            self.update_centers()
            self._teacher_outputs = []
        self.steps_done += 1
        self.progress.fill_(progress)
        self._steps_done += 1
        self._progress = float(progress)
