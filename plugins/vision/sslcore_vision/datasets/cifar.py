"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009) read by ``torchvision.datasets.CIFAR10/100``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from annotated_types import Ge
from torch import Tensor
from torchvision.datasets import CIFAR10, CIFAR100

from sslcore import DatasetBundle
from sslcore_vision.datasets.image_bundle import image_bundle, seeded_subset
from sslcore_vision.datasets.torchvision_files import checked_root, read_torchvision


def split_tensors(data: CIFAR10, size: int | None) -> tuple[Tensor, Tensor]:
    """``(images [N, 3, 32, 32] uint8, labels [N] int64)`` of a torchvision CIFAR split,
    keeping a fixed random subset of ``size`` rows (all if ``None``)."""
    keep = seeded_subset(len(data.data), size)
    images = torch.from_numpy(np.ascontiguousarray(data.data)).permute(0, 3, 1, 2)  # HWC -> CHW
    return images[keep].contiguous(), torch.as_tensor(data.targets, dtype=torch.long)[keep]


def cifar(
    name: str,
    cls: type[CIFAR10],
    root: Path | None,
    train_subset: int | None,
    test_subset: int | None,
    download: bool,
) -> DatasetBundle:
    # the files cls reads, relative to its root (cifar-10-batches-py/data_batch_1, ...), with their MD5 sums
    pairs = [*cls.train_list, *cls.test_list, (cls.meta["filename"], cls.meta["md5"])]
    checksums = {f"{cls.base_folder}/{f}": md5 for f, md5 in pairs}
    files = list(checksums)
    hint = f"(the folder {cls.base_folder}/ that {cls.filename} extracts to)"
    root = checked_root(name, root, files, download, hint=hint)
    parts = []
    for train, size in ((True, train_subset), (False, test_subset)):
        load = partial(cls, root, train=train, download=download)
        parts.append(split_tensors(read_torchvision(name, root, files, load, checksums), size))
    num_classes = 100 if issubclass(cls, CIFAR100) else 10
    return image_bundle(name, parts[0], parts[1], num_classes=num_classes)


def cifar10(
    root: Path | None,
    train_subset: Annotated[int, Ge(1)] | None = None,
    test_subset: Annotated[int, Ge(1)] | None = None,
    download: bool = False,
) -> DatasetBundle:
    """CIFAR-10: 50k training images ``[3, 32, 32]`` uint8 for pretraining; train (50k) +
    test (10k) for evaluation, 10 classes. Reads ``root/cifar-10-batches-py/``.
    ``train_subset`` / ``test_subset`` keep a fixed random subset (seed 0) of each split;
    ``download=True`` lets torchvision download and extract the archive into ``root``.
    """
    return cifar("cifar10", CIFAR10, root, train_subset, test_subset, download)


def cifar100(
    root: Path | None,
    train_subset: Annotated[int, Ge(1)] | None = None,
    test_subset: Annotated[int, Ge(1)] | None = None,
    download: bool = False,
) -> DatasetBundle:
    """CIFAR-100: as :func:`cifar10` with 100 fine-grained classes, read from
    ``root/cifar-100-python/``."""
    return cifar("cifar100", CIFAR100, root, train_subset, test_subset, download)
