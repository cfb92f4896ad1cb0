"""Colour operations on a batch of float images in [0, 1], one factor per image: the
formulas of ``torchvision.transforms.v2.functional`` (``adjust_brightness``,
``adjust_contrast``, ``adjust_saturation``, ``adjust_hue``, ``rgb_to_grayscale``,
``solarize``) with the scalar factor replaced by a ``[B]`` tensor.

Shapes: images ``[B, C, H, W]`` with ``C`` 1 or 3; factors ``[B]``.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: ITU-R 601-2 luma weights, as torchvision's ``rgb_to_grayscale``
LUMA = (0.2989, 0.587, 0.114)
#: the jitter operations in torchvision's ``ColorJitter`` numbering (``fn_idx``)
BRIGHTNESS, CONTRAST, SATURATION, HUE = range(4)


def per_image(values: Tensor) -> Tensor:
    """``[B]`` -> ``[B, 1, 1, 1]``, to broadcast over an image batch."""
    return values.view(-1, 1, 1, 1)


def luma(images: Tensor) -> Tensor:
    """Grey level ``[B, 1, H, W]`` (grey images are their own)."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.split(1, dim=1)
    return r * LUMA[0] + g * LUMA[1] + b * LUMA[2]


def grayscale(images: Tensor, mask: Tensor) -> Tensor:
    """Images with ``mask [B]`` set replaced by their luma in every channel."""
    return torch.where(per_image(mask), luma(images).expand_as(images), images)


def blend(images: Tensor, factors: Tensor, op: Tensor) -> Tensor:
    """One of brightness, contrast or saturation per image, ``op [B]`` saying which
    (:data:`BRIGHTNESS`, :data:`CONTRAST`, :data:`SATURATION`; any other value leaves the
    image unchanged): ``clamp(f x + (1 - f) ref, 0, 1)`` with ``ref`` 0, the image's mean
    luma or its luma, and ``f = factors[b, op[b]]`` (``factors [B, 4]``)."""
    grey = luma(images)
    ref = (
        per_image(op == CONTRAST) * grey.mean(dim=(1, 2, 3), keepdim=True)
        + per_image(op == SATURATION) * grey
    )
    f = per_image(torch.where(op < HUE, factors.gather(1, op.clamp(max=SATURATION)[:, None]).squeeze(1), 1.0))
    return torch.addcmul(images * f, 1 - f, ref).clamp_(0, 1)  # f x + (1 - f) ref: x itself where f = 1


def shift_hue(images: Tensor, shift: Tensor) -> Tensor:
    """Rotate the HSV hue of RGB images by ``shift [B]`` (fractions of a turn) keeping
    saturation and value: torchvision's ``adjust_hue`` (PIL's RGB -> HSV, ``h + shift``
    mod 1, back to RGB), without the round trip: with ``v = max``, chroma ``c = max - min``
    and the hue in sixths ``h6``, channel ``n`` (5, 3, 1 for R, G, B) is
    ``v - c clamp(min(k, 4 - k), 0, 1)``, ``k = (n + h6 + 6 shift) mod 6``."""
    r, g, b = images.split(1, dim=1)
    low, high = images.aminmax(dim=1, keepdim=True)
    chroma = high - low
    inverse = chroma.clamp(min=1e-12).reciprocal()  # grey pixels: every difference below is 0
    sixths = torch.where(
        high == r, (g - b) * inverse, torch.where(high == g, (b - r) * inverse + 2, (r - g) * inverse + 4)
    )
    offsets = torch.tensor([5.0, 3.0, 1.0], device=images.device, dtype=images.dtype).view(1, 3, 1, 1)
    k = (sixths + per_image(6 * shift) + offsets).remainder(6)  # [B, 3, H, W]
    return high - chroma * torch.minimum(k, 4 - k).clamp(0, 1)


def colour_jitter(images: Tensor, factors: Tensor, order: Tensor, with_hue: bool = True) -> Tensor:
    """torchvision's ``ColorJitter`` with per-image factors ``[B, 4]`` (brightness,
    contrast, saturation, hue) applied in per-image orders ``order [B, 4]`` (image ``b``
    gets ``order[b, 0]`` first). Each image's hue step splits its order into the
    operations before and after it, so the three blends before (steps 0-2, identity
    where hue comes first), one hue pass over the batch and the three blends after
    (steps 1-3) give every image exactly its own sequence. Hue runs only for colour
    images and ``with_hue`` (False when no hue factor is drawn)."""
    if not (with_hue and images.shape[1] == 3):
        for step in range(4):
            images = blend(images, factors, order[:, step])
        return images
    hue_at = (order == HUE).int().argmax(dim=1)
    for step in range(3):
        images = blend(images, factors, torch.where(hue_at > step, order[:, step], HUE))
    shift = factors[:, HUE]
    images = torch.where(per_image(shift != 0), shift_hue(images, shift), images)
    for step in range(1, 4):
        images = blend(images, factors, torch.where(hue_at < step, order[:, step], HUE))
    return images


def solarize(images: Tensor, mask: Tensor, threshold: float) -> Tensor:
    """Pixels ``>= threshold`` inverted (``1 - x``) in the images with ``mask [B]`` set."""
    return torch.where(per_image(mask) & (images >= threshold), 1 - images, images)
