"""VICReg (Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance
Regularization for Self-Supervised Learning")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated

import torch
from annotated_types import Ge
from torch import Tensor, nn

from sslcore import TaskOutput
from sslcore.contrast import vicreg, vicreg_terms
from sslcore_vision.batched import StackedImages
from sslcore_vision.tasks.image_views import AugmentOn, ImageViewsTask, byol_views
from sslcore_vision.transforms import ViewsCollate


def expander(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """VICReg's expander: ``Linear -> BN -> ReLU -> Linear -> BN -> ReLU -> Linear`` (the
    reference code's ``8192-8192-8192``; the last layer without bias).

    Shapes: ``[N, in_dim] -> [N, out_dim]``.
    """
    return nn.Sequential(
        nn.Linear(in_dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, hidden_dim),
        nn.BatchNorm1d(hidden_dim),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_dim, out_dim, bias=False),
    )


class VICReg(ImageViewsTask):
    r"""Make two views' expanded embeddings agree while each keeps its variance and
    decorrelates its features.

    .. math::
        z_v = g(f(t_v(x))), \qquad
        \mathcal{L} = \lambda\, s(z_1, z_2) + \mu\, v(z_1, z_2) + \nu\, c(z_1, z_2)

    with the invariance (mean squared distance) ``s``, variance hinge ``v`` (per-feature
    standard deviation below 1) and off-diagonal covariance ``c`` terms of
    :func:`sslcore.contrast.vicreg`, encoder ``f``, :func:`expander` ``g`` and BYOL's
    asymmetric views, as the paper. Each view is its own BatchNorm batch, as in the
    reference code. Metrics: the three unweighted terms.

    Batch: ``(view1, view2)``, each ``[N, C, H, W]`` float.
    ``embed(images [N, C, H, W]) -> [N, output_dim]``: the encoder ``f``.
    """

    signal = "invariance of augmented views under variance and covariance regularisation"
    negatives = "none"

    def __init__(
        self,
        encoder: nn.Module,
        augmentations: Sequence[Callable[[Tensor], Tensor]],
        proj_dim: Annotated[int, Ge(1)] = 1024,
        hidden_dim: Annotated[int, Ge(1)] = 1024,
        sim_weight: Annotated[float, Ge(0)] = 25.0,
        var_weight: Annotated[float, Ge(0)] = 25.0,
        cov_weight: Annotated[float, Ge(0)] = 1.0,
        augment_on: AugmentOn = "auto",
    ):
        head = expander(encoder.output_dim, hidden_dim, proj_dim)
        super().__init__(encoder, head, ViewsCollate(augmentations), augment_on)
        self.sim_weight, self.var_weight, self.cov_weight = sim_weight, var_weight, cov_weight

    from_data = byol_views("vicreg")

    def forward(self, batch: tuple[Tensor, Tensor] | StackedImages) -> TaskOutput:
        z1, z2 = (self.head(self.encoder(view)) for view in self.as_views(batch))
        loss = vicreg(z1, z2, self.sim_weight, self.var_weight, self.cov_weight)
        with torch.no_grad():
            terms = vicreg_terms(z1, z2)
        return TaskOutput(loss, terms._asdict())
