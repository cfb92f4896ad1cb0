"""Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import torch
from annotated_types import Ge
from torch import Tensor, nn

from sslcore import TaskOutput
from sslcore.contrast import barlow_twins
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, byol_views
from sslcore_vision.transforms import ViewsCollate


class BarlowTwins(ImageViewsTask):
    r"""Drive the cross-correlation of two views' projections to the identity.

    .. math::
        z_v = g(f(t_v(x))), \qquad
        C_{ij} = \frac1N \sum_b \hat z^{(1)}_{bi} \hat z^{(2)}_{bj}, \qquad
        \mathcal{L} = \sum_i (1 - C_{ii})^2 + \lambda \sum_{i \ne j} C_{ij}^2

    with :math:`\hat z` standardised over the batch (:func:`sslcore.contrast.barlow_twins`),
    encoder ``f``, projector ``g`` (``Linear -> BatchNorm -> ReLU -> Linear``) and BYOL's
    asymmetric views, as in the paper.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the encoder ``f``.
    """

    signal = "redundancy reduction between augmented views"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        augmentations: Sequence[Callable[[Tensor], Tensor]],
        proj_dim: Annotated[int, Ge(1)] = 512,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        lambda_offdiag: Annotated[float, Ge(0)] = 5e-3,
        augment_on: AugmentOn = "auto",
    ):
        head = projection_mlp(encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, ViewsCollate(augmentations), augment_on)
        self.lambda_offdiag = lambda_offdiag

    from_data = byol_views("barlow_twins")

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        z1, z2 = self.head(self.encoder(torch.cat(self.as_views(batch)))).chunk(2)
        return TaskOutput(barlow_twins(z1, z2, lambda_offdiag=self.lambda_offdiag))
