"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import torch
from annotated_types import Ge
from torch import Tensor, nn

from sslcore import TaskOutput, negative_cosine
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import prediction_mlp, projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, simclr_views, swap_halves
from sslcore_vision.transforms import TwoViewCollate


class SimSiam(ImageViewsTask):
    r"""Predict one view's projection from the other's through a stop-gradient.

    .. math::
        z_v = g(f(t_v(x))), \quad p_v = q(z_v), \qquad
        \mathcal{L} = -\tfrac12\left[\cos(p_1, \mathrm{sg}(z_2)) + \cos(p_2, \mathrm{sg}(z_1))\right]

    with one shared encoder ``f``, projector ``g`` (an MLP ending in a BatchNorm without
    affine parameters), bottleneck predictor ``q`` and stop-gradient ``sg``; no momentum
    encoder and no negatives.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the encoder ``f``.
    """

    signal = "agreement of augmented views through a stop-gradient"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        proj_dim: Annotated[int, Ge(1)] = 256,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        pred_hidden_dim: Annotated[int, Ge(1)] = 64,
        augment_on: AugmentOn = "auto",
    ):
        projector = nn.Sequential(
            projection_mlp(encoder.output_dim, hidden_dim, proj_dim), nn.BatchNorm1d(proj_dim, affine=False)
        )
        super().__init__(encoder, projector, TwoViewCollate(augmentation), augment_on)
        self.predictor = prediction_mlp(proj_dim, pred_hidden_dim, proj_dim)

    from_data = simclr_views("simsiam", min_scale=0.2)

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        z = self.head(
            self.encoder(torch.cat(self.as_views(batch)))
        )  # [2N, proj_dim]: view 1 rows, then view 2
        return TaskOutput(negative_cosine(self.predictor(z), swap_halves(z.detach())))
