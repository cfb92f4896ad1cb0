"""Turn labelled uint8 image tensors into the :class:`~sslcore.DatasetBundle` every image
dataset of this plugin returns."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from sslcore import DatasetBundle, EvalSet
from sslcore_vision.transforms import LabelledImageCollate


def channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units of uint8 images ``[N, C, H, W]``."""
    pixels = images.transpose(0, 1).reshape(images.shape[1], -1).double() / 255
    return pixels.mean(dim=1).tolist(), pixels.std(dim=1).tolist()


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
) -> DatasetBundle:
    """Bundle ``(images [N, C, H, W] uint8, labels [N] int64)`` train and test parts.

    - ``pretrain``: the training images alone (item ``i`` is ``[C, H, W]`` uint8);
    - ``evaluation``: train rows then test rows, ``splits = {"train", "test"}``, collated
      to normalised float images;
    - ``info``: ``in_channels``, ``image_size``, ``mean``, ``std``, ``num_classes``.
    """
    (train_x, train_y), (test_x, test_y) = train, test
    if train_x.dtype != torch.uint8 or train_x.dim() != 4:
        raise ValueError(
            f"{name}: images must be uint8 [N, C, H, W], got {train_x.dtype} {tuple(train_x.shape)}"
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
        name, domain="vision", sample="image", pretrain=train_x, evaluation=evaluation, info=info
    )
