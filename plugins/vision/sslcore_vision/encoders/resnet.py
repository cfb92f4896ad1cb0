"""ResNet-18 and ResNet-50 (He et al. 2016) from torchvision as encoders, optionally
with the small-image (CIFAR) stem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn
from torchvision.models import get_model

from sslcore.data import info_get
from sslcore_vision.channels import require_channels
from sslcore_vision.encoders import PooledFeatureMaps

ARCHITECTURES = ("resnet18", "resnet50")


class ResNetEncoder(PooledFeatureMaps):
    """``torchvision.models.<arch>(weights=None)`` without its classifier.

    ``small_images=True`` swaps the stem for a 3x3 stride-1 convolution and drops the
    max-pool (the CIFAR variant of the SimCLR paper), so 28x28 or 32x32 inputs keep
    enough resolution.

    Shapes: ``[B, in_channels, H, W]`` float -> ``[B, output_dim]`` (512 for ResNet-18,
    2048 for ResNet-50); :meth:`feature_map` gives the last stage before pooling,
    ``[B, output_dim, h, w]``.
    """

    def __init__(self, in_channels: int = 3, small_images: bool = False, arch: str = "resnet18"):
        super().__init__()
        if arch not in ARCHITECTURES:
            raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, got {arch!r}")
        self.in_channels = in_channels
        net = get_model(arch, weights=None)
        if small_images:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.output_dim: int = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def feature_maps(self, images: Tensor) -> list[Tensor]:
        """The outputs of ``layer1`` .. ``layer4``; the last is :meth:`feature_map`."""
        require_channels(self.in_channels, images.shape[1], type(self).__name__)
        net = self.net
        x = net.maxpool(net.relu(net.bn1(net.conv1(images))))
        maps = []
        for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
            x = layer(x)
            maps.append(x)
        return maps


class ResNet18Encoder(ResNetEncoder):
    """:class:`ResNetEncoder` with ``arch="resnet18"`` (512-d)."""

    def __init__(self, in_channels: int = 3, small_images: bool = False):
        super().__init__(in_channels, small_images, arch="resnet18")


def resnet18(info: Mapping[str, Any], small_images: bool = False) -> ResNet18Encoder:
    """Registered factory: ``in_channels`` comes from the dataset's ``info``."""
    return ResNet18Encoder(info_get(info, "in_channels"), small_images=small_images)


def resnet50(info: Mapping[str, Any], small_images: bool = False) -> ResNetEncoder:
    """Registered factory: ResNet-50 (bottleneck blocks, 2048-d); ``in_channels`` comes
    from the dataset's ``info``."""
    return ResNetEncoder(info_get(info, "in_channels"), small_images=small_images, arch="resnet50")
