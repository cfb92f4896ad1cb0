"""Gaussian blur of a batch with one sigma per image (torchvision's ``gaussian_blur``:
kernel ``softmax(-t^2 / (2 sigma^2))`` over ``t = -(k-1)/2 .. (k-1)/2``, reflect padding),
as two depthwise 1-D convolutions, each image-channel its own group."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore_vision.batched.colour import per_image


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int, mask: Tensor) -> Tensor:
    """Blur the images ``[B, C, H, W]`` with ``mask [B]`` set, image ``b`` with
    ``sigma[b]`` (``[B]``), an odd ``kernel_size`` (< H, W) -> ``[B, C, H, W]``."""
    b, c, h, w = images.shape
    t = torch.arange(kernel_size, device=images.device, dtype=images.dtype) - (kernel_size - 1) / 2
    kernels = torch.softmax(-0.5 * (t / sigma.to(images.dtype)[:, None]) ** 2, dim=1)  # [B, k], normalised
    weights = kernels.repeat_interleave(c, dim=0)  # [B*C, k]
    pad = kernel_size // 2
    flat = F.pad(images.reshape(1, b * c, h, w), (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, weights.view(b * c, 1, kernel_size, 1), groups=b * c)
    flat = F.conv2d(flat, weights.view(b * c, 1, 1, kernel_size), groups=b * c)
    return torch.where(per_image(mask), flat.view(b, c, h, w), images)
