"""Image encoders: ``[B, C, H, W]`` float images -> ``[B, output_dim]``.

Registered ones live in submodules (``small_cnn``, ``resnet``) and pool their stages'
feature maps (:class:`PooledFeatureMaps`); :func:`wrap_module` turns any user ``nn.Module``
into an encoder.
"""

from torch import Tensor, nn

from sslcore import ConfigError
from sslcore_vision.encoders.wrap import WrappedImageEncoder, wrap_module

__all__ = ["PooledFeatureMaps", "WrappedImageEncoder", "require_whole_patch", "wrap_module"]

#: what a task that feeds an encoder small tiles tells a ViT user (``sslcore tasks NAME``)
TILE_REQUIREMENT = (
    "with a patch-based encoder (a ViT: vit, vit_tiny, vit_small, timm ViTs), tiles of at least "
    "one patch: min_tile_size >= its patch_size (checked when the task is built)"
)


def require_whole_patch(encoder: nn.Module, side: int, task: str) -> None:
    """Raise :class:`~sslcore.ConfigError` if ``side`` px inputs (a task's tiles) are
    smaller than one patch of a patch-based encoder (one with an int ``patch_size``: a
    ViT), which would see a single zero-padded patch; other encoders are not checked."""
    patch = getattr(encoder, "patch_size", None)
    if isinstance(patch, int) and side < patch:
        raise ConfigError(
            f"{task}: its tiles are {side} px but the encoder's patches are {patch} px, so a tile "
            f"would not fill one patch; set the task option min_tile_size={patch} or more (tiles are "
            f"resized up to it), or build the encoder with patch_size <= {side}"
        )


class PooledFeatureMaps(nn.Module):
    """An encoder whose ``feature_maps(images)`` gives every stage's output, shallow to deep:
    :meth:`feature_map` is the last, ``[B, output_dim, h, w]``, and ``forward`` its global
    average, ``[B, output_dim]``."""

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        raise NotImplementedError

    def feature_map(self, images: Tensor) -> Tensor:
        """``[B, in_channels, H, W] -> [B, output_dim, h, w]`` (the last stage's output)."""
        return self.feature_maps(images)[-1]

    def forward(self, images: Tensor) -> Tensor:
        return self.feature_map(images).mean(dim=(2, 3))
