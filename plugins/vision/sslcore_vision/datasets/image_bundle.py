"""Turn labelled uint8 image tensors into the :class:`~sslcore.DatasetBundle` every image
dataset of this plugin returns."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from sslcore import ConfigError, DatasetBundle, EvalSet
from sslcore_vision.transforms import LabelledImageCollate

#: the smallest per-channel std (one grey level, in [0, 1] units)
MIN_STD = 1 / 255


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and (unbiased) std in [0, 1] units of uint8 images ``[N, C, H, W]``,
    accumulated in float64 over ``chunk`` images at a time (bounded memory). The std is at
    least ``MIN_STD`` (one grey level), so a constant channel normalises to 0 instead of
    dividing by zero."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for part in images.split(chunk):
        pixels = part.transpose(0, 1).reshape(channels, -1).double() / 255
        total += pixels.sum(dim=1)
        squares += pixels.square().sum(dim=1)
    n = images.numel() // channels
    mean = total / n
    var = (squares - n * mean.square()) / max(n - 1, 1)
    return mean.tolist(), var.clamp_min(0).sqrt().clamp_min(MIN_STD).tolist()


def is_grey(images: Tensor, chunk: int = 4096) -> bool:
    """Whether 3-channel uint8 images ``[N, 3, H, W]`` hold no colour (R = G = B at every
    pixel), e.g. grey photos decoded as RGB."""
    return images.shape[1] == 3 and all(bool((part == part[:, :1]).all()) for part in images.split(chunk))


def seeded_subset(n: int, size: int | None, seed: int = 0) -> Tensor:
    """The first ``size`` indices of a fixed permutation of ``range(n)`` (all if ``None``)."""
    if size is None or size >= n:
        return torch.arange(n)
    if size < 1:
        raise ValueError(f"subset size must be >= 1, got {size}")
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].sort().values


def image_bundle(
    name: str,
    train: tuple[Tensor, Tensor],
    test: tuple[Tensor, Tensor],
    num_classes: int,
    pretrain: Tensor | None = None,
) -> DatasetBundle:
    """Bundle ``(images [N, C, H, W] uint8, labels [N] int64)`` train and test parts.

    - ``pretrain``: the training images alone (item ``i`` is ``[C, H, W]`` uint8), or
      the given ``pretrain`` images (e.g. an unlabelled split) of the same shape;
    - ``evaluation``: train rows then test rows, ``splits = {"train", "test"}``, collated
      to normalised float images;
    - ``info``: ``in_channels``, ``image_size``, ``mean``, ``std``, ``num_classes`` and
      ``grey`` (3-channel images without colour, see :func:`is_grey`).

    Images must be square (the image tasks crop, tile and rotate square images):
    :class:`~sslcore.ConfigError` otherwise.
    """
    (train_x, train_y), (test_x, test_y) = train, test
    if train_x.dtype != torch.uint8 or train_x.dim() != 4:
        raise ValueError(
            f"{name}: images must be uint8 [N, C, H, W], got {train_x.dtype} {tuple(train_x.shape)}"
        )
    if pretrain is not None and (pretrain.dtype != torch.uint8 or pretrain.shape[1:] != train_x.shape[1:]):
        raise ValueError(
            f"{name}: pretraining images must be uint8 {list(train_x.shape[1:])} like the training "
            f"images, got {pretrain.dtype} {list(pretrain.shape[1:])}"
        )
    height, width = train_x.shape[-2:]
    if height != width:
        raise ConfigError(
            f"{name}: images are {height}x{width} (height x width), but the image tasks need square "
            "images; resize them (image-folder: pass image_size=<side> to resize and center-crop)"
        )
    mean, std = channel_stats(train_x)
    n_train, n_test = len(train_x), len(test_x)
    evaluation = EvalSet(
        dataset=TensorDataset(torch.cat([train_x, test_x]), torch.cat([train_y, test_y]).long()),
        splits={"train": np.arange(n_train), "test": np.arange(n_train, n_train + n_test)},
        collate=LabelledImageCollate(mean, std),
        num_classes=num_classes,
    )
    info = {
        "in_channels": train_x.shape[1],
        "image_size": train_x.shape[-1],
        "mean": mean,
        "std": std,
        "num_classes": num_classes,
        "grey": is_grey(train_x),
    }
    return DatasetBundle(
        name,
        domain="vision",
        sample="image",
        pretrain=train_x if pretrain is None else pretrain,
        evaluation=evaluation,
        info=info,
    )


def split_bundle(
    name: str, images: Tensor, labels: Tensor, train: Sequence[int], test: Sequence[int], num_classes: int
) -> DatasetBundle:
    """:func:`image_bundle` of the rows ``train`` and of the rows ``test`` of ``images
    [N, C, H, W]`` uint8 and ``labels [N]``."""
    parts = [(images[rows].contiguous(), labels[rows]) for rows in (torch.tensor(train), torch.tensor(test))]
    return image_bundle(name, *parts, num_classes=num_classes)


def resize_square(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Bilinear, antialiased resize of uint8 ``[N, C, H, W]`` to ``[N, C, size, size]``,
    ``chunk`` images at a time (bounded memory); unchanged if already that size."""
    from torchvision.transforms.v2 import functional as TF

    if images.shape[-2:] == (size, size):
        return images
    return torch.cat(
        [TF.resize(part, [size, size], antialias=True) for part in images.split(chunk)]
    ).contiguous()
