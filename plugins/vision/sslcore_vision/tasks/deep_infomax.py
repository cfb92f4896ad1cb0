"""Deep InfoMax, local-global objective (Hjelm et al. 2019, "Learning Deep
Representations by Mutual Information Estimation and Maximization")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

import torch
from annotated_types import Ge, Gt
from torch import Tensor, nn

from sslcore import ConfigError, ContrastiveTask, TaskOutput, info_nce
from sslcore.contrast import jsd_mi
from sslcore.data import info_get
from sslcore_vision.heads import projection_mlp
from sslcore_vision.tasks.pseudo_label import checked_normaliser

Estimator = Literal["jsd", "infonce"]


def require_feature_map(encoder: nn.Module) -> None:
    """A clear error for an encoder without spatial features."""
    if not hasattr(encoder, "feature_map"):
        raise ConfigError(
            f"deep_infomax needs an encoder with feature_map(); {type(encoder).__name__} has none"
        )


def stage_maps(encoder: nn.Module, images: Tensor) -> list[Tensor]:
    """``encoder.feature_maps(images)`` (every stage, shallow to deep) if the encoder has
    it, else ``[encoder.feature_map(images)]``."""
    maps = getattr(encoder, "feature_maps", None)
    return maps(images) if maps is not None else [encoder.feature_map(images)]


class DeepInfoMax(ContrastiveTask):
    r"""Maximise the mutual information between an image's global vector and each of
    its local features, scored by an encode-and-dot-product critic.

    .. math::
        M = C(x) \in \mathbb{R}^{D_l \times h \times w}, \quad
        y = E(x) = \tfrac{1}{h'w'}\textstyle\sum_q F(M)_q, \quad
        T(M_p, y) = \phi_l(M_p)^\top \phi_g(y)

    ``M`` is an intermediate stage of the encoder (``encoder.feature_maps``): as in the
    paper (an 8x8 local map of 32x32 images, the global vector computed from it by the
    rest of the network), the deepest stage with at least ``local_size`` positions per
    side (default 7: 7x7 of 28x28 images with ``small_cnn``; ``local_size=0`` takes the
    last map). On the last map a small encoder leaves 2x2 "local" features that each
    see most of the image, and the objective degenerates into telling images apart by
    whatever is easiest. Encoders without ``feature_maps`` use their last map.

    ``jsd`` (default; :func:`sslcore.contrast.jsd_mi`):
    :math:`\mathcal{L} = \mathbb{E}_{i,p}[\mathrm{sp}(-T(M^{(i)}_p, y^{(i)}))]
    + \mathbb{E}_{i \ne j,p}[\mathrm{sp}(T(M^{(j)}_p, y^{(i)}))]`, negatives the other
    images of the batch. ``infonce`` (:func:`sslcore.info_nce`, cosine critic with
    temperature ``tau``): each local feature must pick its own image's global vector
    among the batch's, averaged over positions ``p``.

    ``y`` is the average-pooled last map (one encoder pass gives both), which is the
    encoder output for every encoder of this plugin. Batch: ``images [N, C, S, S]``
    float built by :meth:`collate`; ``embed(images) -> [N, output_dim]`` is the encoder
    output. Metric ``score_gap``: mean positive minus mean negative critic score.
    """

    domain = "vision"
    signal = "local features vs the global summary of the same image"
    family = "context-instance"
    negatives = "end-to-end"
    encoder_requirements = (
        "feature_map() (every registered encoder has one; a wrapped module must return [B, C, h, w] maps); "
        "with a ViT the local features are its patch tokens on their grid"
    )

    def __init__(
        self,
        encoder: nn.Module,
        normalise: Callable[[Tensor], Tensor],
        estimator: Estimator = "jsd",
        critic_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 256,
        temperature: Annotated[float, Gt(0)] = 0.1,
        local_stage: int = -1,
        local_channels: Annotated[int, Ge(1)] | None = None,
    ):
        if estimator not in ("jsd", "infonce"):
            raise ConfigError(f"deep_infomax: estimator must be 'jsd' or 'infonce', got {estimator!r}")
        require_feature_map(encoder)
        dim = encoder.output_dim
        super().__init__(encoder, head=projection_mlp(dim, hidden_dim, critic_dim))
        # per-position MLP (1x1 convolutions): [B, in, h, w] -> [B, critic_dim, h, w]
        conv1 = nn.Conv2d(local_channels or dim, hidden_dim, 1)
        self.local_head = nn.Sequential(conv1, nn.ReLU(inplace=True), nn.Conv2d(hidden_dim, critic_dim, 1))
        self.normalise, self.estimator, self.temperature = normalise, estimator, temperature
        self.local_stage = local_stage

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        estimator: Estimator = "jsd",
        critic_dim: Annotated[int, Ge(1)] = 128,
        hidden_dim: Annotated[int, Ge(1)] = 256,
        temperature: Annotated[float, Gt(0)] = 0.1,
        local_size: Annotated[int, Ge(1)] = 7,
    ) -> DeepInfoMax:
        normalise = checked_normaliser(encoder, info, "deep_infomax")
        require_feature_map(encoder)
        # the deepest stage map with at least local_size positions per side (the first if none has)
        channels, size = info_get(info, "in_channels"), info_get(info, "image_size")
        training = encoder.training
        encoder.eval()
        with torch.no_grad():
            maps = stage_maps(encoder, torch.zeros(1, channels, size, size))
        encoder.train(training)
        stage = max((i for i, m in enumerate(maps) if min(m.shape[2:]) >= local_size), default=0)
        channels = int(maps[stage].shape[1])
        return cls(encoder, normalise, estimator, critic_dim, hidden_dim, temperature, stage, channels)

    def collate(self, samples: Sequence[Tensor]) -> Tensor:
        return self.normalise(torch.stack(list(samples)))

    def forward(self, images: Tensor) -> TaskOutput:
        maps = stage_maps(self.encoder, images)
        global_ = self.head(maps[-1].mean(dim=(2, 3)))  # [N, d]
        local = self.local_head(maps[self.local_stage]).flatten(2)  # [N, d, hw]
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
        gap = positive.detach().mean() - negative.detach().mean()
        return TaskOutput(loss, {"score_gap": gap})
