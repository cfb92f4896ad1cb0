"""Fashion-MNIST (Xiao et al. 2017) read by ``torchvision.datasets.FashionMNIST``."""

from __future__ import annotations

from pathlib import Path

from torchvision.datasets import FashionMNIST

from sslcore import DatasetBundle
from sslcore_vision.datasets.mnist import mnist_family

FOLDER = "fashion-mnist"  # the original release's four .gz files, as in the shared data folder


def fashion_mnist(
    root: Path | None,
    train_subset: int | None = None,
    test_subset: int | None = None,
    download: bool = False,
) -> DatasetBundle:
    """60k training images ``[1, 28, 28]`` uint8 for pretraining; train (60k) + test (10k)
    for evaluation, 10 classes. Reads ``root/fashion-mnist/*.gz`` (the original release)
    or ``root/FashionMNIST/raw/`` (extracted or ``.gz``); ``.gz`` files are extracted once
    into the sslcore cache. ``train_subset`` / ``test_subset`` keep a fixed random subset
    (seed 0) of each split for quick runs (the pretraining set follows the train subset);
    ``download=True`` lets torchvision download the files into ``root/FashionMNIST/raw/``.
    """
    return mnist_family("fashion-mnist", FashionMNIST, FOLDER, root, train_subset, test_subset, download)
