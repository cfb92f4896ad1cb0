"""Colorization with an adversarial loss (a conditional GAN on the colour channels in the
manner of pix2pix, Isola et al. 2017, on top of Zhang et al. 2016's pretext task)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore_vision.discriminators import PatchDiscriminator
from sslcore_vision.tasks.adversarial import AdversarialReconstruction
from sslcore_vision.tasks.colorization import (
    Colorization,
    ColourBatch,
    lightness_encoder_info,
    require_colour,
    require_lightness_encoder,
)


class AdversarialColorization(AdversarialReconstruction):
    r""":class:`~sslcore_vision.tasks.colorization.Colorization` as the generator and a
    :class:`~sslcore_vision.discriminators.PatchDiscriminator` that judges ``(L, ab)``
    images: the true colours against the predicted ones on the same lightness (see
    :class:`AdversarialReconstruction` for the losses).

    Batch: :class:`~sslcore_vision.tasks.colorization.ColourBatch`; the encoder takes the
    lightness channel only (``in_channels=1``, see :meth:`encoder_info`); ``embed`` takes
    normalised RGB images ``[N, 3, H, W]`` and returns ``[N, output_dim]``.
    """

    signal = "colour from lightness, judged real vs generated"

    @classmethod
    def encoder_info(cls, info: Mapping[str, Any]) -> dict[str, Any]:
        """``{**info, "in_channels": 1}`` for colour data (``ConfigError`` for grey data)."""
        return lightness_encoder_info(info, "adversarial_colorization")

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        decoder_width: Annotated[int, Ge(1)] = 32,
        lambda_adv: Annotated[float, Interval(ge=0, le=1)] = 0.001,
        disc_width: Annotated[int, Ge(1)] = 32,
    ) -> AdversarialColorization:
        require_colour(info, "adversarial_colorization")
        require_lightness_encoder(encoder, "adversarial_colorization")
        generator = Colorization.from_data(encoder, info, decoder_width)
        return cls(generator, PatchDiscriminator(3, disc_width), lambda_adv)

    def judged(self, batch: ColourBatch, prediction: Tensor) -> tuple[Tensor, Tensor]:
        return (
            torch.cat([batch.lightness, batch.ab], dim=1),
            torch.cat([batch.lightness, prediction], dim=1),
        )
