"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual
Representations")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt
from torch import Tensor, nn

from sslcore import TaskOutput, nt_xent
from sslcore_vision.batched import StackedImages
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, simclr_views
from sslcore_vision.transforms import TwoViewCollate


class SimCLR(ImageViewsTask):
    r"""Two augmented views of each image must find each other among the 2N views.

    .. math::
        z^{(v)} = g(f(t_v(x))),\ t_1, t_2 \sim \mathcal{T}, \qquad
        \mathcal{L} = \text{NT-Xent}_\tau(z^{(1)}, z^{(2)})

    with encoder ``f``, projection MLP ``g`` and the augmentation distribution
    :math:`\mathcal{T}` of :func:`~sslcore_vision.transforms.simclr_augmentation`.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float, built by :meth:`collate`
    from ``N`` uint8 images ``[C, H, W]``. ``embed(images [N, C, H, W]) -> [N, output_dim]``
    is the encoder output (the projection is discarded downstream).
    """

    signal = "instance identity across augmented views"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        augmentation: Callable[[Tensor], Tensor],
        proj_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 512,
        temperature: Annotated[float, Gt(0)] = 0.2,
        augment_on: AugmentOn = "auto",
    ):
        head = projection_mlp(encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, TwoViewCollate(augmentation), augment_on)
        self.temperature = temperature

    from_data = simclr_views("simclr", min_scale=0.08)

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        view1, view2 = self.as_views(batch)
        z1, z2 = self.head(self.encoder(torch.cat([view1, view2]))).chunk(2)
        loss = nt_xent(z1, z2, temperature=self.temperature)
        positive_cosine = F.cosine_similarity(z1.detach(), z2.detach()).mean()
        return TaskOutput(loss, {"positive_cosine": positive_cosine})
