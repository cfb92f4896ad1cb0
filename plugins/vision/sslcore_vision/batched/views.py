"""Views drawn from a whole batch of images on the batch's device, every image its own draws
(:func:`~sslcore_vision.batched.params.sample_params`; torchvision draws one set per call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from sslcore_vision.batched.blur import gaussian_blur
from sslcore_vision.batched.colour import colour_jitter, grayscale, solarize
from sslcore_vision.batched.crop import resized_crop
from sslcore_vision.batched.params import ViewParams, sample_params
from sslcore_vision.view_distribution import ViewDistribution


class StackedImages(NamedTuple):
    """A batch whose views are not drawn yet: the uint8 images ``[N, C, H, W]``, stacked
    by ``collate`` on the CPU; the views are drawn after the transfer to the device."""

    images: Tensor


class BatchedViewAugmentation:
    """One :class:`ViewDistribution` applied to a batch: ``[B, C, H, W]`` uint8 (or float
    in [0, 1]) on any device -> ``[V * B, C, size, size]`` float32 normalised, ``V``
    independent views per image (view ``v`` of image ``b`` at row ``v * B + b``)."""

    def __init__(self, distribution: ViewDistribution):
        self.distribution = distribution
        colour = distribution.colour_jitter()
        self._jitter = colour is not None
        self._hue = colour is not None and colour.hue is not None

    def sample(self, n: int, height: int, width: int, device: torch.device) -> ViewParams:
        """Parameters of ``n`` views of ``height x width`` images."""
        return sample_params(self.distribution, n, height, width, device)

    def apply(self, images: Tensor, params: ViewParams) -> Tensor:
        """``images [B, C, H, W]`` under ``params`` of ``V * B`` views -> ``[V * B, C, S, S]``."""
        dist = self.distribution
        x = images.float() / 255 if not images.is_floating_point() else images.float()
        x = resized_crop(x, params.boxes, dist.size, params.flip)
        if self._jitter:
            x = colour_jitter(x, params.factors, params.order, with_hue=self._hue)
        if dist.grayscale > 0:
            x = grayscale(x, params.grayscale)
        if dist.blur_p > 0:
            x = gaussian_blur(x, params.sigma, dist.blur_kernel, params.blur)
        if dist.solarize_p > 0:
            x = solarize(x, params.solarize, dist.solarize_threshold / 255)
        mean = torch.tensor(dist.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(dist.std, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std

    def __call__(self, images: Tensor, views: int = 1) -> Tensor:
        b, _, h, w = images.shape
        return self.apply(images, self.sample(views * b, h, w, images.device))


class BatchedViews:
    """One view per distribution of a batch: ``[N, C, H, W]`` -> a tuple with, per
    distribution ``t_v``, ``[N, C, S_v, S_v]``, the device path of
    :class:`~sslcore_vision.transforms.ViewsCollate`. Views of equal distributions are
    drawn in one call."""

    def __init__(self, distributions: Sequence[ViewDistribution]):
        self.distributions = tuple(distributions)
        self.groups: dict[ViewDistribution, list[int]] = {}
        for i, dist in enumerate(self.distributions):
            self.groups.setdefault(dist, []).append(i)
        self.augmentations = {dist: BatchedViewAugmentation(dist) for dist in self.groups}

    def __call__(self, images: Tensor) -> tuple[Tensor, ...]:
        out: list[Tensor] = [images] * len(self.distributions)
        with torch.no_grad():
            for dist, positions in self.groups.items():
                drawn = self.augmentations[dist](images, len(positions)).chunk(len(positions))
                for position, view in zip(positions, drawn, strict=True):
                    out[position] = view
        return tuple(out)
