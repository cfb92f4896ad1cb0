"""Image decoders for generative tasks: the encoder's feature map back to pixels."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def encoder_feature_map(encoder: nn.Module, images: Tensor) -> Tensor:
    """``encoder.feature_map(images)`` ``[N, C, h, w]``; an encoder without one gives its
    pooled output as a 1x1 map, ``[N, output_dim, 1, 1]``."""
    if hasattr(encoder, "feature_map"):
        return encoder.feature_map(images)
    return encoder(images)[:, :, None, None]


def up_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """4x4 transposed convolution with stride 2 (doubles H and W) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_channels, out_channels, 4, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImageDecoder(nn.Module):
    """Upsampling convolutional decoder (the context encoder's decoder, Pathak et al. 2016).

    ``n = floor(log2(image_size / min(h, w)))`` :func:`up_block` stages with widths
    ``width * 2^(n-1), ..., 2 width, width``, a bilinear resize to exactly ``(H, W)``
    (needed when ``H`` is not ``h * 2^n``, e.g. 28 from 2: three stages to 16, then 28)
    and a 3x3 convolution to ``out_channels`` at full resolution. Rounding the stages down
    keeps the decoder cheaper than the encoder on small images. Runs in ``channels_last``
    like :class:`~sslcore_vision.encoders.small_cnn.SmallCNN`. No output activation:
    targets are normalised pixels or colours.

    Shapes: ``[N, in_channels, h, w] -> [N, out_channels, H, W]``; ``size`` defaults
    to ``(image_size, image_size)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, feature_size: int, image_size: int, width: int = 32
    ):
        super().__init__()
        stages = max(0, math.floor(math.log2(image_size / feature_size)))
        widths = [in_channels] + [width * 2**i for i in reversed(range(stages))]
        self.up = nn.Sequential(*(up_block(c_in, c_out) for c_in, c_out in zip(widths, widths[1:])))
        self.head = nn.Conv2d(widths[-1], out_channels, 3, padding=1)
        self.image_size = image_size
        self.to(memory_format=torch.channels_last)

    @classmethod
    def for_encoder(
        cls, encoder: nn.Module, in_channels: int, image_size: int, out_channels: int, width: int = 32
    ) -> ImageDecoder:
        """A decoder from ``encoder``'s feature map (probed on ``image_size`` inputs with
        ``in_channels`` channels, a batch of two zero images in eval mode, the training mode
        restored) to ``out_channels`` x ``image_size`` x ``image_size``."""
        was_training, parameter = encoder.training, next(encoder.parameters(), None)
        device = parameter.device if parameter is not None else None
        encoder.eval()
        try:
            with torch.no_grad():
                probe = torch.zeros(2, in_channels, image_size, image_size, device=device)
                channels, height, width_ = encoder_feature_map(encoder, probe).shape[1:]
        finally:
            encoder.train(was_training)
        return cls(channels, out_channels, min(height, width_), image_size, width=width)

    def forward(self, features: Tensor, size: tuple[int, int] | None = None) -> Tensor:
        size = size or (self.image_size, self.image_size)
        out = self.up(features)
        if tuple(out.shape[-2:]) != tuple(size):
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return self.head(out)
