"""A small convolutional encoder that trains quickly on a CPU."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import torch
from annotated_types import Ge
from torch import Tensor, nn

from sslcore.data import info_get
from sslcore_vision.channels import require_channels
from sslcore_vision.encoders import PooledFeatureMaps


def conv_block(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """3x3 convolution -> BatchNorm -> ReLU; ``stride=2`` halves height and width."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallCNN(PooledFeatureMaps):
    """Four conv blocks (widths ``w, 2w, 4w, output_dim``; the first strides by
    ``stem_stride``, the others by 2) and global average pooling, for 28x28 grey or small
    colour images. Runs in ``channels_last`` memory format (faster convolutions on CPU).

    Shapes: ``[B, in_channels, H, W]`` float -> ``[B, output_dim]``; any ``H, W >= 1``
    (28x28 maps to 2x2 before pooling with the default stride-2 stem).
    :meth:`feature_map` gives the map before pooling, ``[B, output_dim, h, w]``;
    :meth:`feature_maps` every block's output (28x28 -> 14, 7, 4, 2 positions per side).
    """

    def __init__(self, in_channels: int = 1, width: int = 32, output_dim: int = 256, stem_stride: int = 2):
        super().__init__()
        self.in_channels = in_channels
        self.output_dim = output_dim
        widths = (in_channels, width, 2 * width, 4 * width, output_dim)
        strides = (stem_stride, 2, 2, 2)
        blocks = [conv_block(c_in, c_out, s) for c_in, c_out, s in zip(widths, widths[1:], strides)]
        self.features = nn.Sequential(*blocks)
        self.to(memory_format=torch.channels_last)

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        """Each block's output, shallow to deep; the last is :meth:`feature_map`."""
        require_channels(self.in_channels, images.shape[1], type(self).__name__)
        maps, x = [], images.contiguous(memory_format=torch.channels_last)
        for block in self.features:
            x = block(x)
            maps.append(x)
        return maps


def small_cnn(
    info: Mapping[str, Any],
    width: Annotated[int, Ge(1)] = 32,
    output_dim: Annotated[int, Ge(1)] = 256,
    stem_stride: Annotated[int, Ge(1)] = 2,
) -> SmallCNN:
    """Registered factory: ``in_channels`` comes from the dataset's ``info``; use
    ``stem_stride=1`` to keep full resolution in the first block (slower)."""
    return SmallCNN(
        info_get(info, "in_channels"), width=width, output_dim=output_dim, stem_stride=stem_stride
    )
