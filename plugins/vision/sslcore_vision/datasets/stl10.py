"""STL-10 (Coates et al. 2011) read by ``torchvision.datasets.STL10``: 5k labelled
training images, 8k test images and 100k unlabelled images for self-supervision."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from torch import Tensor
from torchvision.datasets import STL10

from sslcore import ConfigError, DatasetBundle
from sslcore_vision.datasets.image_bundle import image_bundle, resize_square, seeded_subset
from sslcore_vision.datasets.torchvision_files import checked_root, read_torchvision

CHECKSUMS = {f"{STL10.base_folder}/{f}": md5 for f, md5 in STL10.train_list + STL10.test_list}
FILES = list(CHECKSUMS)
PRETRAIN = ("unlabeled", "train+unlabeled", "train")


def split_tensors(
    root: Path, split: str, size: int | None, image_size: int, download: bool
) -> tuple[Tensor, Tensor]:
    """``(images [N, 3, image_size, image_size] uint8, labels [N] int64)`` of one
    torchvision split (labels are -1 for ``unlabeled``), a fixed random subset of
    ``size`` rows (all if ``None``)."""
    data = read_torchvision(
        "stl10", root, FILES, partial(STL10, root, split=split, download=download), CHECKSUMS
    )
    keep = seeded_subset(len(data.data), size)
    images = torch.from_numpy(data.data)[keep].contiguous()  # [N, 3, 96, 96], already CHW
    labels = torch.from_numpy(data.labels.astype("int64"))[keep]
    return resize_square(images, image_size), labels


def stl10(
    root: Path | None,
    pretrain: str = "unlabeled",
    image_size: Annotated[int, Interval(ge=1, le=96)] = 96,
    train_subset: Annotated[int, Ge(1)] | None = None,
    test_subset: Annotated[int, Ge(1)] | None = None,
    unlabeled_subset: Annotated[int, Ge(1)] | None = None,
    download: bool = False,
) -> DatasetBundle:
    """STL-10 as uint8 ``[3, image_size, image_size]`` images (96 natively; a smaller
    ``image_size`` resizes bilinearly with antialiasing, once, when the data is built).

    - pretraining: ``pretrain="unlabeled"`` the 100k unlabelled images (default),
      ``"train+unlabeled"`` the 5k labelled training images plus those, or ``"train"``;
    - evaluation: train (5k) + test (8k), 10 classes; mean / std from the training images.

    ``train_subset`` / ``test_subset`` / ``unlabeled_subset`` keep a fixed random subset
    (seed 0) of each part (the 100k unlabelled images take 2.8 GB at 96x96);
    ``download=True`` lets torchvision download and extract the archive into ``root``.
    """
    if pretrain not in PRETRAIN:
        raise ConfigError(f"stl10: pretrain must be one of {', '.join(PRETRAIN)}, got {pretrain!r}")
    if not 1 <= image_size <= 96:
        raise ConfigError(f"stl10: image_size must be between 1 and 96 (native size), got {image_size}")
    hint = f"(the folder {STL10.base_folder}/ that {STL10.filename} extracts to)"
    root = checked_root("stl10", root, FILES, download, hint=hint)
    train = split_tensors(root, "train", train_subset, image_size, download)
    test = split_tensors(root, "test", test_subset, image_size, download)
    images = None  # the labelled training images alone
    if pretrain != "train":
        unlabeled, _ = split_tensors(root, "unlabeled", unlabeled_subset, image_size, download)
        images = unlabeled if pretrain == "unlabeled" else torch.cat([train[0], unlabeled])
    return image_bundle("stl10", train, test, num_classes=10, pretrain=images)
