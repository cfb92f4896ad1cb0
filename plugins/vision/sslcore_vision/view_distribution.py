"""One view distribution of the SimCLR / BYOL family as data (:class:`ViewDistribution`, read by
both the per-image CPU path, :class:`ViewAugmentation`, and the batched device path; see
plugins/vision/README.md, 'Views on the device')."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torchvision.transforms import v2


def to_normalised_float(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 -> float in [0, 1] -> ``(x - mean) / std``, per channel."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


@dataclass(frozen=True)
class ViewDistribution:
    """t ~ T for ``[C, H, W]`` uint8 images, the steps in this order (Grill et al. 2020, table 6):

    1. random resized crop (torchvision's ``RandomResizedCrop``): area fraction
       ``~ U(scale)``, log aspect ratio ``~ U(log ratio)``, 10 tries, else the central crop
       of the largest allowed ratio; resized to ``size x size`` (bilinear, antialiased);
    2. horizontal flip with probability ``flip_p``;
    3. with probability ``jitter_p``: colour jitter ``(brightness, contrast, saturation,
       hue)`` (factor ranges as ``v2.ColorJitter`` parses them), the four in a random order
       per image; grey images get brightness and contrast only;
    4. grayscale with probability ``grayscale_p`` (colour images only);
    5. Gaussian blur with probability ``blur_p``: odd kernel :attr:`blur_kernel`,
       ``sigma ~ U(blur_sigma)``, reflect padding;
    6. solarize with probability ``solarize_p``: pixels ``>= solarize_threshold / 255``
       inverted;
    7. normalisation ``(x - mean) / std``.
    """

    size: int
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0
    solarize_threshold: int = 128

    def __post_init__(self) -> None:
        for name in ("mean", "std", "scale", "ratio", "jitter", "blur_sigma"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))

    @property
    def blur_kernel(self) -> int:
        """Odd Gaussian kernel side, about 10% of the view side, at least 3."""
        return max(3, (self.size // 10) | 1)

    @property
    def grayscale(self) -> float:
        """The grayscale probability that applies: ``grayscale_p`` for colour, 0 for grey."""
        return self.grayscale_p if self.channels == 3 else 0.0

    def colour_jitter(self) -> v2.ColorJitter | None:
        """torchvision's jitter for :attr:`jitter` (brightness and contrast only for grey
        images); ``None`` when all four strengths are 0. Its ``brightness``, ``contrast``,
        ``saturation`` and ``hue`` attributes are the factor ranges (``None``: no change)."""
        if not any(self.jitter):
            return None
        brightness, contrast, saturation, hue = self.jitter
        if self.channels == 3:
            return v2.ColorJitter(brightness, contrast, saturation, hue)
        return v2.ColorJitter(brightness=brightness, contrast=contrast)

    def transforms(self) -> list[Callable[[Tensor], Tensor]]:
        """The per-image ``torchvision.transforms.v2`` steps of this distribution."""
        steps: list[Callable[[Tensor], Tensor]] = [
            v2.RandomResizedCrop(self.size, scale=self.scale, ratio=self.ratio, antialias=True),
            v2.RandomHorizontalFlip(self.flip_p),
        ]
        colour = self.colour_jitter()
        if colour is not None:
            steps.append(v2.RandomApply([colour], p=self.jitter_p))
        if self.channels == 3:
            steps.append(v2.RandomGrayscale(p=self.grayscale_p))
        if self.blur_p > 0:
            steps.append(v2.RandomApply([v2.GaussianBlur(self.blur_kernel, self.blur_sigma)], p=self.blur_p))
        if self.solarize_p > 0:
            steps.append(v2.RandomSolarize(threshold=self.solarize_threshold, p=self.solarize_p))
        steps.append(to_normalised_float(self.mean, self.std))
        return steps


class ViewAugmentation(v2.Compose):
    """The per-image (CPU) realisation of a :class:`ViewDistribution`:
    ``[C, H, W]`` uint8 -> ``[C, size, size]`` float32, every image its own parameters.
    ``distribution`` is kept so the batched path can be built from the same definition."""

    def __init__(self, distribution: ViewDistribution):
        super().__init__(distribution.transforms())
        self.distribution = distribution
