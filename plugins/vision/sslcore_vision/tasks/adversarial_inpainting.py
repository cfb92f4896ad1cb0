"""Context encoder with the joint reconstruction + adversarial loss (Pathak et al. 2016)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore.data import info_get
from sslcore_vision.discriminators import PatchDiscriminator
from sslcore_vision.masks import MaskedBatch
from sslcore_vision.tasks.adversarial import AdversarialReconstruction
from sslcore_vision.tasks.inpainting import Inpainting


class AdversarialInpainting(AdversarialReconstruction):
    r""":class:`~sslcore_vision.tasks.inpainting.Inpainting` as the generator and a
    :class:`~sslcore_vision.discriminators.PatchDiscriminator` that judges whole images:
    the real image ``x`` against ``m * G(x~) + (1 - m) * x``, the context with the hole
    filled by the generator (see :class:`AdversarialReconstruction` for the losses;
    ``lambda_adv = 0.001`` is the paper's 0.999 / 0.001 weighting).

    Batch: :class:`~sslcore_vision.masks.MaskedBatch`; ``embed(images [N, C, H, W]) ->
    [N, output_dim]`` encodes the unmasked image.
    """

    signal = "a hidden image region, reconstructed and judged real vs generated"

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        mask: Literal["center", "random"] = "center",
        region_size: Annotated[float, Interval(gt=0, lt=1)] = 0.5,
        outside_weight: Annotated[float, Ge(0)] = 0.0,
        decoder_width: Annotated[int, Ge(1)] = 32,
        lambda_adv: Annotated[float, Interval(ge=0, le=1)] = 0.001,
        disc_width: Annotated[int, Ge(1)] = 32,
    ) -> AdversarialInpainting:
        generator = Inpainting.from_data(encoder, info, mask, region_size, outside_weight, decoder_width)
        return cls(generator, PatchDiscriminator(info_get(info, "in_channels"), disc_width), lambda_adv)

    def judged(self, batch: MaskedBatch, prediction: Tensor) -> tuple[Tensor, Tensor]:
        return batch.targets, torch.where(batch.masks, prediction, batch.targets)
