"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised
Learning")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore import TaskOutput, negative_cosine
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import prediction_mlp, projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, byol_views, swap_halves
from sslcore_vision.tasks.momentum_target import MomentumTarget
from sslcore_vision.transforms import ViewsCollate


class BYOL(ImageViewsTask):
    r"""Predict the momentum target's projection of one view from the other view.

    .. math::
        p_v = q(g(f(t_v(x)))), \quad z'_v = g_\xi(f_\xi(t_v(x))), \qquad
        \mathcal{L} = -\tfrac12\left[\cos(p_1, z'_2) + \cos(p_2, z'_1)\right], \qquad
        \xi \leftarrow m\,\xi + (1 - m)\,\theta

    with online encoder ``f``, projector ``g``, predictor ``q`` (parameters
    :math:`\theta`), target :math:`\xi` = EMA of ``(f, g)`` with
    :math:`m = 1 - (1 - m_0)(\cos(\pi p) + 1)/2` over training progress ``p`` (updated by
    :meth:`on_train_step_end`), and BYOL's asymmetric views ``t_1`` (blur p=1) and ``t_2``
    (blur p=0.1, solarize p=0.2). The paper's symmetrised
    :math:`\lVert \bar p - \bar z' \rVert^2` sum equals :math:`4 + 4\mathcal{L}`.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the online encoder ``f``.
    """

    signal = "agreement of augmented views with a bootstrapped momentum target"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        augmentations: Sequence[Callable[[Tensor], Tensor]],
        proj_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        base_momentum: Annotated[float, Interval(ge=0, le=1)] = 0.99,
        augment_on: AugmentOn = "auto",
    ):
        head = projection_mlp(encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, ViewsCollate(augmentations), augment_on)
        self.predictor = prediction_mlp(proj_dim, hidden_dim, proj_dim)
        self.target = MomentumTarget(self.encoder, self.head, base_momentum=base_momentum, ramp=True)

    from_data = byol_views("byol")

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        both = torch.cat(self.as_views(batch))  # [2N, C, H, W]: view 1 rows, then view 2 rows
        p = self.predictor(self.head(self.encoder(both)))
        return TaskOutput(negative_cosine(p, swap_halves(self.target(both))))

    def on_train_step_end(self, progress: float) -> None:
        self.target.update(self.encoder, self.head, progress=progress)
