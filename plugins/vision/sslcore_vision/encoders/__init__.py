"""Image encoders: ``[B, C, H, W]`` float images -> ``[B, output_dim]``.

Registered ones live in submodules (``small_cnn``, ``resnet``); :func:`wrap_module`
turns any user ``nn.Module`` into an encoder.
"""

from sslcore_vision.encoders.wrap import WrappedImageEncoder, wrap_module

__all__ = ["WrappedImageEncoder", "wrap_module"]
