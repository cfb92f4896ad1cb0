"""Masked-patch denoising auto-encoder for CNNs, in the spirit of SimMIM (Xie et al.
2022) and MAE (He et al. 2022): the masking noise of denoising auto-encoders (Vincent et
al. 2008) applied to square patches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from sslcore import ConfigError
from sslcore_vision.masks import PatchMask
from sslcore_vision.tasks.masked_reconstruction import MaskedReconstruction


class MaskedDenoising(MaskedReconstruction):
    r"""Reconstruct the pixels of randomly hidden patches (see
    :class:`MaskedReconstruction` for the objective).

    A fraction ``mask_ratio`` of the ``patch_size`` x ``patch_size`` patches of each
    image is set to the dataset mean; the convolutional encoder sees the whole masked
    image (SimMIM-style, no token dropping) and the loss is the L2 error on the hidden
    patches only (``outside_weight = 0``), as in SimMIM and MAE.
    """

    domain = "vision"
    signal = "pixels of randomly masked patches"

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        patch_size: int = 4,
        mask_ratio: float = 0.6,
        decoder_width: int = 32,
    ) -> MaskedDenoising:
        try:
            patches = PatchMask(patch_size, mask_ratio)
        except ValueError as error:
            raise ConfigError(f"masked_denoising: {error}") from None
        return cls.build(encoder, info, patches, decoder_width=decoder_width)
