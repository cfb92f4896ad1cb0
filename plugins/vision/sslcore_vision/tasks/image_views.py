"""What the instance-instance image tasks share: the data facts their views need, a base
whose ``collate`` draws the views, and the swap of two stacked views."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from sslcore import ContrastiveTask
from sslcore.data import info_get
from sslcore_vision.channels import require_channels


class ImageFacts(NamedTuple):
    """The dataset facts the view distributions take, in their argument order."""

    image_size: int
    channels: int
    mean: Sequence[float]
    std: Sequence[float]


def image_facts(encoder: nn.Module, info: Mapping[str, Any], task: str) -> ImageFacts:
    """``image_size``, ``in_channels``, ``mean``, ``std`` from ``info``, after checking the
    encoder takes ``in_channels`` channels (:class:`~sslcore.ConfigError` otherwise)."""
    channels = info_get(info, "in_channels")
    if hasattr(encoder, "in_channels"):
        require_channels(encoder.in_channels, channels, task)
    return ImageFacts(info_get(info, "image_size"), channels, info_get(info, "mean"), info_get(info, "std"))


class ImageViewsTask(ContrastiveTask):
    """An instance-instance image task whose batch is a tuple of views ``[N, C, H_v, W_v]``
    drawn from ``N`` uint8 images by ``self.views`` (a picklable collate of
    :mod:`sslcore_vision.transforms`)."""

    domain = "vision"
    family = "instance-instance"
    views: Callable[[Sequence[Tensor]], tuple[Tensor, ...]]

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, ...]:
        return self.views(samples)


def swap_halves(z: Tensor) -> Tensor:
    """``[z1; z2] -> [z2; z1]`` along the batch: each view's row faces the other view's."""
    first, second = z.chunk(2)
    return torch.cat([second, first])
