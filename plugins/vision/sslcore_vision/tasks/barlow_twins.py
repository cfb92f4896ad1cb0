"""Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via
Redundancy Reduction")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore import TaskOutput
from sslcore.contrast import barlow_twins
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, Probability, image_facts
from sslcore_vision.transforms import ViewsCollate, byol_augmentations


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

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        crop_min_scale: Annotated[float, Interval(gt=0, le=1)] = 0.08,
        blur: tuple[Probability, Probability] = (1.0, 0.1),
        solarize: tuple[Probability, Probability] = (0.0, 0.2),
        **options: Any,
    ) -> BarlowTwins:
        """BYOL's asymmetric pair (:func:`~sslcore_vision.transforms.byol_augmentations`):
        ``blur`` and ``solarize`` are the two views' probabilities; other options go to
        ``__init__``."""
        views = byol_augmentations(
            *image_facts(encoder, info, "barlow_twins"), crop_min_scale, blur, solarize
        )
        return cls(encoder, views, **options)

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        z1, z2 = self.head(self.encoder(torch.cat(self.as_views(batch)))).chunk(2)
        return TaskOutput(barlow_twins(z1, z2, lambda_offdiag=self.lambda_offdiag))
