"""Rotation prediction, RotNet (Gidaris et al. 2018, "Unsupervised Representation
Learning by Predicting Image Rotations")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import torch
from annotated_types import Ge
from torch import Tensor, nn

from sslcore_vision.heads import classification_head
from sslcore_vision.tasks.pseudo_label import PseudoLabelTask, checked_normaliser

NUM_ROTATIONS = 4  # 0, 90, 180, 270 degrees


def rotations(images: Tensor) -> tuple[Tensor, Tensor]:
    """All four rotations of every image: ``[N, C, S, S] -> ([4N, C, S, S], [4N])`` where
    row ``r * N + i`` is ``images[i]`` turned ``r`` quarter turns counter-clockwise
    (``torch.rot90``) and its label is ``r``."""
    rotated = torch.cat([torch.rot90(images, r, dims=(-2, -1)) for r in range(NUM_ROTATIONS)])
    labels = torch.arange(NUM_ROTATIONS).repeat_interleave(len(images))
    return rotated, labels


class RotationPrediction(PseudoLabelTask):
    r"""Classify which of four rotations was applied to an image.

    .. math::
        \mathcal{L} = \frac{1}{4N} \sum_{i=1}^{N} \sum_{r=0}^{3}
            \mathrm{CE}\big(h(f(\mathrm{rot}_{90 r}(x_i))),\, r\big)

    with encoder ``f`` and classifier ``h`` (:func:`~sslcore_vision.heads.classification_head`,
    ``output_dim -> 4``).

    Batch: ``(images [4N, C, S, S] float, labels [4N])`` built by :meth:`collate` from
    ``N`` square uint8 images ``[C, S, S]`` (every image in all four rotations).
    ``embed(images [N, C, S, S]) -> [N, output_dim]`` is the encoder output.
    """

    signal = "rotation applied to the image"

    def __init__(
        self,
        encoder: nn.Module,
        normalise: Callable[[Tensor], Tensor],
        hidden_dim: Annotated[int, Ge(1)] = 256,
    ):
        super().__init__(encoder, head=classification_head(encoder.output_dim, NUM_ROTATIONS, hidden_dim))
        self.normalise = normalise

    @classmethod
    def from_data(
        cls, encoder: nn.Module, info: Mapping[str, Any], hidden_dim: Annotated[int, Ge(1)] = 256
    ) -> RotationPrediction:
        return cls(encoder, checked_normaliser(encoder, info, "rotation"), hidden_dim=hidden_dim)

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        return rotations(self.normalise(torch.stack(list(samples))))

    def logits(self, batch: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        images, labels = batch
        return self.head(self.encoder(images)), labels
