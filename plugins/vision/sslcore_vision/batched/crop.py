"""Crop + resize + horizontal flip of a batch, every image its own box, as two batched
matrix products.

Antialiased bilinear resizing (``torchvision.transforms.v2.functional.resize(...,
antialias=True)``, PyTorch's ``_upsample_bilinear2d_aa``) is separable and linear: along
each axis, output pixel ``i`` is a normalised triangle-filter average of the input
pixels, the triangle ``max(0, 1 - |(j + 0.5 - c_i) / s|)`` centred at
``c_i = (i + 0.5) * L / S`` (crop length ``L``, output length ``S``) with support
``s = max(1, L / S)``. Writing those weights as matrices ``R [S, H]`` and ``K [S, W]``
whose columns outside the crop are zero, a crop resized to ``S x S`` is ``R x K^T`` per
channel, the flip reverses the rows of ``K``, and a batch with one box per image is two
batched matmuls: torchvision's ``resized_crop`` on float images to rounding (TF32 rounding
where PyTorch's TF32 matmul switch is on; plugins/vision/README.md)."""

from __future__ import annotations

import torch
from torch import Tensor


def resize_weights(start: Tensor, length: Tensor, in_size: int, out_size: int) -> Tensor:
    """Antialiased bilinear resampling matrices ``[B, out_size, in_size]`` taking the
    segment ``[start, start + length)`` of an axis of ``in_size`` pixels to ``out_size``
    pixels; ``start``, ``length``: ``[B]`` whole numbers (float)."""
    scale = (length / out_size)[:, None, None]  # [B, 1, 1]
    support = scale.clamp(min=1.0)
    centre = scale * (torch.arange(out_size, device=start.device, dtype=start.dtype)[:, None] + 0.5)
    j = torch.arange(in_size, device=start.device, dtype=start.dtype) - start[:, None, None]  # [B, 1, in]
    weights = (1 - ((j + 0.5 - centre) / support).abs()).clamp(min=0) * (
        (j >= 0) & (j < length[:, None, None])
    )
    return weights / weights.sum(dim=2, keepdim=True)


def resized_crop(images: Tensor, boxes: Tensor, size: int, flip: Tensor) -> Tensor:
    """Crop ``boxes`` (``[V * B, 4]``: top, left, h, w) out of ``images`` ``[B, C, H, W]``
    float, resize each to ``size x size`` and flip those with ``flip [V * B]`` set;
    ``V`` views per image, view ``v`` of image ``b`` at row ``v * B + b`` ->
    ``[V * B, C, size, size]``."""
    n, (b, c, height, width) = len(boxes), images.shape
    top, left, h, w = boxes.to(images.dtype).unbind(dim=1)
    rows = resize_weights(top, h, height, size).view(n // b, b, size, height)
    cols = resize_weights(left, w, width, size)
    cols = torch.where(flip[:, None, None], cols.flip(1), cols).view(n // b, b, size, width)
    across = torch.einsum("bchw,vbtw->vbcht", images, cols)  # [V, B, C, H, size]
    return torch.einsum("vbsh,vbcht->vbcst", rows, across).reshape(n, c, size, size)
