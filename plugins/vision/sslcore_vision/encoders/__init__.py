"""Image encoders: ``[B, C, H, W]`` float images -> ``[B, output_dim]``.

Registered ones live in submodules (``small_cnn``, ``resnet``) and pool their stages'
feature maps (:class:`PooledFeatureMaps`); :func:`wrap_module` turns any user ``nn.Module``
into an encoder.
"""

from torch import Tensor, nn

from sslcore_vision.encoders.wrap import WrappedImageEncoder, wrap_module

__all__ = ["PooledFeatureMaps", "WrappedImageEncoder", "wrap_module"]


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
