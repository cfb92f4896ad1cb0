"""Context encoder inpainting (Pathak et al. 2016, "Context Encoders: Feature Learning
by Inpainting"), reconstruction loss only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from annotated_types import Ge, Interval
from torch import nn

from sslcore import ConfigError
from sslcore_vision.masks import SquareMask
from sslcore_vision.tasks.masked_reconstruction import MaskedReconstruction

MASKS = ("center", "random")


class Inpainting(MaskedReconstruction):
    r"""Fill a hidden square region from its context (the context encoder with the
    reconstruction loss alone; see :class:`MaskedReconstruction` for the objective).

    The hole is a square of side ``region_size * image_size``, centred (the paper's
    central region) or at a random position per image, filled with the dataset mean
    (0 after normalisation). The loss is the L2 error on the hole, plus
    ``outside_weight`` times the error on the context. The decoder reconstructs the whole
    image from the encoder's feature map (the paper's channel-wise fully connected
    bottleneck is left out: the small encoders' maps are already 1x1 to 4x4).
    """

    signal = "pixels of a hidden image region from its context"

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        mask: Literal["center", "random"] = "center",
        region_size: Annotated[float, Interval(gt=0, lt=1)] = 0.5,
        outside_weight: Annotated[float, Ge(0)] = 0.0,
        decoder_width: Annotated[int, Ge(1)] = 32,
    ) -> Inpainting:
        if mask not in MASKS:
            raise ConfigError(f"inpainting: mask must be one of {MASKS}, got {mask!r}")
        try:
            square = SquareMask(region_size, centre=mask == "center")
        except ValueError as error:
            raise ConfigError(f"inpainting: region_size: {error}") from None
        return cls.build(encoder, info, square, outside_weight=outside_weight, decoder_width=decoder_width)
