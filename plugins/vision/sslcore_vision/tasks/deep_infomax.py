"""Deep InfoMax, local-global objective (Hjelm et al. 2019, "Learning Deep
Representations by Mutual Information Estimation and Maximization")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn

from sslcore import ConfigError, ContrastiveTask, TaskOutput, info_nce
from sslcore.contrast import jsd_mi
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.pseudo_label import checked_normaliser

Estimator = Literal["jsd", "infonce"]


def local_mlp(in_channels: int, hidden: int, out: int) -> nn.Sequential:
    """Per-position MLP on a feature map (1x1 convolutions): ``[B, in, h, w] -> [B, out, h, w]``."""
    return nn.Sequential(nn.Conv2d(in_channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, out, 1))


class DeepInfoMax(ContrastiveTask):
    r"""Maximise the mutual information between an image's global vector and each of
    its local features, scored by an encode-and-dot-product critic.

    .. math::
        M = f_{\mathrm{map}}(x) \in \mathbb{R}^{D \times h \times w}, \quad
        y = \tfrac{1}{hw}\textstyle\sum_p M_p, \quad
        T(M_p, y) = \phi_l(M_p)^\top \phi_g(y)

    ``jsd`` (default; :func:`sslcore.contrast.jsd_mi`):
    :math:`\mathcal{L} = \mathbb{E}_{i,p}[\mathrm{sp}(-T(M^{(i)}_p, y^{(i)}))]
    + \mathbb{E}_{i \ne j,p}[\mathrm{sp}(T(M^{(j)}_p, y^{(i)}))]`, negatives the other
    images of the batch. ``infonce`` (:func:`sslcore.info_nce`, cosine critic with
    temperature ``tau``): each local feature must pick its own image's global vector
    among the batch's, averaged over positions ``p``.

    ``y`` is the average-pooled ``encoder.feature_map`` (one encoder pass), which is the
    encoder output for every encoder of this plugin. Batch: ``images [N, C, S, S]``
    float built by :meth:`collate`; ``embed(images) -> [N, output_dim]`` is the encoder
    output. Metric ``score_gap``: mean positive minus mean negative critic score.
    """

    domain = "vision"
    signal = "local features vs the global summary of the same image"
    family = "context-instance"
    negatives = "end-to-end"

    def __init__(
        self,
        encoder: nn.Module,
        normalise: Callable[[Tensor], Tensor],
        estimator: Estimator = "jsd",
        critic_dim: int = 128,
        hidden_dim: int = 256,
        temperature: float = 0.1,
    ):
        if estimator not in ("jsd", "infonce"):
            raise ConfigError(f"deep_infomax: estimator must be 'jsd' or 'infonce', got {estimator!r}")
        if not hasattr(encoder, "feature_map"):
            raise ConfigError(
                f"deep_infomax needs an encoder with feature_map(); {type(encoder).__name__} has none"
            )
        dim = encoder.output_dim
        super().__init__(encoder, head=projection_mlp(dim, hidden_dim, critic_dim))
        self.local_head = local_mlp(dim, hidden_dim, critic_dim)
        self.normalise, self.estimator, self.temperature = normalise, estimator, temperature

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        estimator: Estimator = "jsd",
        critic_dim: int = 128,
        hidden_dim: int = 256,
        temperature: float = 0.1,
    ) -> DeepInfoMax:
        normalise = checked_normaliser(encoder, info, "deep_infomax")
        return cls(encoder, normalise, estimator, critic_dim, hidden_dim, temperature)

    def collate(self, samples: Sequence[Tensor]) -> Tensor:
        return self.normalise(torch.stack(list(samples)))

    def forward(self, images: Tensor) -> TaskOutput:
        feature_map = self.encoder.feature_map(images)  # [N, D, h, w]
        global_ = self.head(feature_map.mean(dim=(2, 3)))  # [N, d]
        local = self.local_head(feature_map).flatten(2)  # [N, d, hw]
        scores = torch.einsum("id,jdp->ijp", global_, local)  # [N, N, hw]: global i, image j
        same = torch.eye(len(images), dtype=torch.bool, device=images.device)
        positive, negative = scores[same], scores[~same]  # [N, hw], [N(N-1), hw]
        if self.estimator == "jsd":
            loss = jsd_mi(positive, negative)
        else:
            per_position = [
                info_nce(local[:, :, p], global_, temperature=self.temperature) for p in range(local.shape[2])
            ]
            loss = torch.stack(per_position).mean()
        gap = (positive.detach().mean() - negative.detach().mean()).item()
        return TaskOutput(loss, {"score_gap": gap})
