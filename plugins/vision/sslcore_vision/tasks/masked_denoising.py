"""Masked-patch denoising auto-encoder for CNNs, in the spirit of SimMIM (Xie et al.
2022) and MAE (He et al. 2022): the masking noise of denoising auto-encoders (Vincent et
al. 2008) applied to square patches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from annotated_types import Ge, Interval
from torch import nn

from sslcore import ConfigError
from sslcore.data import info_get
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

    signal = "pixels of randomly masked patches"

    @classmethod
    def from_data(
        cls,
        encoder: nn.Module,
        info: Mapping[str, Any],
        patch_size: Annotated[int, Ge(1)] = 4,
        mask_ratio: Annotated[float, Interval(gt=0, lt=1)] = 0.6,
        decoder_width: Annotated[int, Ge(1)] = 32,
    ) -> MaskedDenoising:
        """Images too small for two ``patch_size`` patches per side, or a ``mask_ratio``
        that hides every patch, raise :class:`~sslcore.ConfigError`."""
        try:
            patches = PatchMask(patch_size, mask_ratio)
        except ValueError as error:
            raise ConfigError(f"masked_denoising: {error}") from None
        side = int(info_get(info, "image_size"))
        if side // patch_size < 2:
            raise ConfigError(
                f"masked_denoising: {side}x{side} images do not hold two {patch_size}x{patch_size} patches per "
                f"side, so masking would hide the whole image; use patch_size <= {max(1, side // 2)}"
            )
        if patches.hidden(side, side) >= patches.num_patches(side, side):
            raise ConfigError(
                f"masked_denoising: mask_ratio {mask_ratio} hides all {patches.num_patches(side, side)} patches "
                f"of a {side}x{side} image; use a smaller mask_ratio or patch_size"
            )
        return cls.build(encoder, info, patches, decoder_width=decoder_width)
