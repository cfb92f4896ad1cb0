"""Per-image random parameters of a :class:`~sslcore_vision.view_distribution.ViewDistribution`,
drawn for a whole batch at once on the batch's device as torchvision's ``make_params`` draw them
for one image."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from sslcore_vision.view_distribution import ViewDistribution

#: RandomResizedCrop's number of tries before the central-crop fallback
CROP_TRIES = 10
#: the jitter factors that change nothing: brightness, contrast, saturation x1, hue +0
NEUTRAL_FACTORS = (1.0, 1.0, 1.0, 0.0)


@dataclass(frozen=True)
class ViewParams:
    """The parameters of ``B`` views, every tensor on one device, first dimension ``B``.

    ``boxes [B, 4]`` float: crop ``(top, left, height, width)`` in whole pixels;
    ``flip [B]`` bool; ``jitter [B]`` bool (colour jitter applied); ``factors [B, 4]``:
    brightness, contrast, saturation, hue factors (:data:`NEUTRAL_FACTORS` where a factor
    is not drawn or jitter is not applied); ``order [B, 4]`` long: each image's order of
    the four jitter operations (0-3 as listed, torchvision's ``fn_idx``); ``grayscale``,
    ``blur``, ``solarize`` ``[B]`` bool; ``sigma [B]``: blur sigma.
    """

    boxes: Tensor
    flip: Tensor
    jitter: Tensor
    factors: Tensor
    order: Tensor
    grayscale: Tensor
    blur: Tensor
    sigma: Tensor
    solarize: Tensor

    def __len__(self) -> int:
        return len(self.flip)

    @staticmethod
    def cat(params: list[ViewParams]) -> ViewParams:
        """The parameters of several groups of views, in order."""
        return ViewParams(
            **{f.name: torch.cat([getattr(p, f.name) for p in params]) for f in fields(ViewParams)}
        )


def sample_boxes(
    n: int,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    device: torch.device,
) -> Tensor:
    """``n`` crop boxes ``[n, 4]`` (top, left, h, w) of a ``height x width`` image, as
    ``RandomResizedCrop.make_params``: up to :data:`CROP_TRIES` tries of area fraction
    ``U(scale)`` and aspect ratio ``exp(U(log ratio))``, sides rounded half to even, the
    first try that fits kept (its corner uniform over the valid positions), else the central
    crop: the whole image, cut to the nearest allowed ratio."""
    area = torch.empty(n, CROP_TRIES, device=device).uniform_(*scale) * (height * width)
    aspect = torch.empty(n, CROP_TRIES, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1])).exp()
    w, h = (area * aspect).sqrt().round(), (area / aspect).sqrt().round()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # the first try that fits (0 if none)
    found = fits.any(dim=1)
    fallback_h, fallback_w = height, width
    if width / height < min(ratio):
        fallback_h = int(round(width / min(ratio)))
    elif width / height > max(ratio):
        fallback_w = int(round(height * max(ratio)))
    h = torch.where(found, h.gather(1, first).squeeze(1), float(fallback_h))
    w = torch.where(found, w.gather(1, first).squeeze(1), float(fallback_w))
    corner = torch.rand(2, n, device=device)
    top = torch.where(found, (corner[0] * (height - h + 1)).floor().clamp(max=height - h), (height - h) // 2)
    left = torch.where(found, (corner[1] * (width - w + 1)).floor().clamp(max=width - w), (width - w) // 2)
    return torch.stack([top, left, h, w], dim=1)


def sample_factors(dist: ViewDistribution, n: int, device: torch.device) -> tuple[Tensor, Tensor, Tensor]:
    """``(applied [n], factors [n, 4], order [n, 4])`` of the colour jitter: each factor
    ``U(range)`` of torchvision's ``ColorJitter`` (neutral where its range is ``None`` or
    jitter is not applied, probability ``1 - jitter_p``), order a uniform permutation."""
    factors = torch.tensor(NEUTRAL_FACTORS, device=device).repeat(n, 1)
    colour = dist.colour_jitter()
    ranges = [] if colour is None else [colour.brightness, colour.contrast, colour.saturation, colour.hue]
    applied = torch.rand(n, device=device) < (dist.jitter_p if colour is not None else 0.0)
    for k, bounds in enumerate(ranges):
        if bounds is not None:
            drawn = torch.empty(n, device=device).uniform_(*bounds)
            factors[:, k] = torch.where(applied, drawn, factors[:, k])
    order = torch.rand(n, 4, device=device).argsort(dim=1)
    return applied, factors, order


def sample_params(
    dist: ViewDistribution, n: int, height: int, width: int, device: torch.device
) -> ViewParams:
    """Independent parameters of ``n`` views of ``height x width`` images under ``dist``."""
    applied, factors, order = sample_factors(dist, n, device)
    coins = torch.rand(4, n, device=device)
    return ViewParams(
        boxes=sample_boxes(n, height, width, dist.scale, dist.ratio, device),
        flip=coins[0] < dist.flip_p,
        jitter=applied,
        factors=factors,
        order=order,
        grayscale=coins[1] < dist.grayscale,
        blur=coins[2] < dist.blur_p,
        sigma=torch.empty(n, device=device).uniform_(*dist.blur_sigma),
        solarize=coins[3] < dist.solarize_p,
    )
