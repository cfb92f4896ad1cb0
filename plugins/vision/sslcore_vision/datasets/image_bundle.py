"""Turn labelled uint8 image tensors into the :class:`~sslcore.DatasetBundle` every image
dataset of this plugin returns."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from sslcore import DatasetBundle, EvalSet
from sslcore_vision.transforms import LabelledImageCollate


def channel_stats(images: Tensor, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and (unbiased) std in [0, 1] units of uint8 images ``[N, C, H, W]``,
    accumulated in float64 over ``chunk`` images at a time (bounded memory)."""
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
    return mean.tolist(), var.clamp_min(0).sqrt().tolist()


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
    - ``info``: ``in_channels``, ``image_size``, ``mean``, ``std``, ``num_classes``.
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
    }
    return DatasetBundle(
        name,
        domain="vision",
        sample="image",
        pretrain=train_x if pretrain is None else pretrain,
        evaluation=evaluation,
        info=info,
    )


def resize_square(images: Tensor, size: int, chunk: int = 4096) -> Tensor:
    """Bilinear, antialiased resize of uint8 ``[N, C, H, W]`` to ``[N, C, size, size]``,
    ``chunk`` images at a time (bounded memory); unchanged if already that size."""
    from torchvision.transforms.v2 import functional as TF

    if images.shape[-2:] == (size, size):
        return images
    return torch.cat(
        [TF.resize(part, [size, size], antialias=True) for part in images.split(chunk)]
    ).contiguous()
