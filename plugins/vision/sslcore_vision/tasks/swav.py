"""SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting
Cluster Assignments")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt, Interval
from torch import Tensor, nn

from sslcore import ConfigError, TaskOutput
from sslcore.contrast import NegativeQueue, swav_loss
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, image_facts
from sslcore_vision.transforms import MultiCropCollate, multi_crop_augmentations


class SwAV(ImageViewsTask):
    r"""Predict the cluster code of each global crop from every other crop.

    .. math::
        z_v = \frac{g(f(x_v))}{\lVert g(f(x_v)) \rVert}, \quad S^{(v)} = z_v C^\top, \quad
        Q^{(a)} = \text{Sinkhorn}_\varepsilon(S^{(a)}), \qquad
        \mathcal{L} = \frac1G \sum_{a=1}^{G} \frac{1}{V - 1} \sum_{v \ne a}
            \text{CE}\big(Q^{(a)}, \text{softmax}(S^{(v)} / \tau)\big)

    over ``V = G + num_local`` crops: ``G = num_global`` global ``[N, C, S, S]`` (the
    paper's 2) and ``num_local`` small ``[N, C, s, s]`` ones, which only predict
    (:func:`sslcore.contrast.swav_loss`).
    Prototypes ``C`` ``[num_prototypes, proj_dim]`` are a bias-free linear layer whose rows
    are renormalised after every step (:meth:`on_train_step_end`). With ``queue_size > 0``
    the projections of earlier batches' global crops join the Sinkhorn-Knopp problem once
    the queue is full (the paper's small-batch queue). The prototypes get no gradient
    during the first ``freeze_prototypes`` steps (the reference code's stabiliser).

    Batch: the tuple of ``V`` views. ``embed(images [N, C, H, W]) -> [N, output_dim]``:
    the encoder ``f``.
    """

    signal = "swapped prediction of cluster assignments across crops"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        global_augmentation: Callable[[Tensor], Tensor],
        local_augmentation: Callable[[Tensor], Tensor],
        num_local: Annotated[int, Ge(0)] = 2,
        num_global: Annotated[int, Ge(1)] = 2,
        proj_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        num_prototypes: Annotated[int, Ge(1)] = 100,
        temperature: Annotated[float, Gt(0)] = 0.1,
        epsilon: Annotated[float, Gt(0)] = 0.05,
        sinkhorn_iterations: Annotated[int, Ge(1)] = 3,
        queue_size: Annotated[int, Ge(0)] = 0,
        freeze_prototypes: Annotated[int, Ge(0)] = 0,
        augment_on: AugmentOn = "auto",
    ):
        if num_global + num_local < 2:
            raise ConfigError(
                f"swav needs at least 2 crops to predict one from another, got num_global={num_global} "
                f"and num_local={num_local}; use e.g. num_global=2"
            )
        head = projection_mlp(encoder.output_dim, hidden_dim, proj_dim)
        views = MultiCropCollate(global_augmentation, local_augmentation, num_local, num_global)
        super().__init__(encoder, head, views, augment_on)
        self.num_global = num_global
        self.prototypes = nn.Linear(proj_dim, num_prototypes, bias=False)
        self.normalise_prototypes()
        self.queues = nn.ModuleList(
            [NegativeQueue(queue_size, proj_dim) for _ in range(num_global)] if queue_size else []
        )
        self.temperature, self.epsilon, self.sinkhorn_iterations = temperature, epsilon, sinkhorn_iterations
        self.freeze_prototypes = freeze_prototypes
        self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))
        self._steps_done = 0  # host copy: reading the buffer would sync a GPU every step
        self.register_load_state_dict_post_hook(SwAV._read_steps)
        self._new_features: list[Tensor] = []

    @staticmethod
    def _read_steps(module: nn.Module, incompatible_keys: object) -> None:
        module._steps_done = int(module.steps_done)

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        local_size: Annotated[float, Interval(gt=0, le=1)] = 0.43,
        jitter: Annotated[float, Ge(0)] = 0.5,
        blur: bool = False,
        **options: Any,
    ) -> SwAV:
        """Multi-crop views (:func:`~sslcore_vision.transforms.multi_crop_augmentations`):
        local crops of side ``local_size`` times the image side; SimCLR's colour strength
        ``jitter`` and, with ``blur``, Gaussian blur with p=0.5; other options (with
        ``num_local``, ``num_global``) go to ``__init__``."""
        facts = image_facts(encoder, info, "swav")
        crops = multi_crop_augmentations(*facts, local_size=local_size, jitter=jitter, blur=0.5 * blur)
        return cls(encoder, *crops, **options)

    @torch.no_grad()
    def normalise_prototypes(self) -> None:
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    def forward(self, batch: tuple[Tensor, ...] | StackedImages) -> TaskOutput:
        batch = self.as_views(batch)
        n = len(batch[0])
        # one encoder pass per crop resolution, one projector pass over all crops
        g = self.num_global
        groups = [torch.cat(batch[:g])] + ([torch.cat(batch[g:])] if len(batch) > g else [])
        z = F.normalize(self.head(torch.cat([self.encoder(crops) for crops in groups])), dim=1)
        prototypes = self.prototypes.weight  # [num_prototypes, proj_dim]
        if self._steps_done < self.freeze_prototypes:
            prototypes = prototypes.detach()
        scores = (z @ prototypes.T).split(n)  # V x [N, num_prototypes]
        queue_scores = None
        if self.queues and all(q.is_full for q in self.queues):
            with torch.no_grad():
                queue_scores = [self.prototypes(q.negatives()) for q in self.queues]
        loss = swav_loss(
            scores, tuple(range(g)), self.temperature, self.epsilon, self.sinkhorn_iterations, queue_scores
        )
        if self.training and self.queues:
            self._new_features = list(z.detach()[: g * n].split(n))
        return TaskOutput(loss)

    def on_train_step_end(self, progress: float) -> None:
        self.steps_done += 1
        self._steps_done += 1
        self.normalise_prototypes()
        for queue, features in zip(self.queues, self._new_features):
            queue.push(features)
        self._new_features = []
