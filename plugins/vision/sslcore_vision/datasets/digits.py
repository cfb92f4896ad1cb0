"""scikit-learn's handwritten digits (the UCI optical digits test set), 1797 8x8 images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torchvision.transforms.v2 import functional as TF

from sslcore import DatasetBundle
from sslcore_vision.datasets.image_bundle import split_bundle


def digits(
    root: Path | None = None,
    image_size: Annotated[int, Ge(1)] = 16,
    test_fraction: Annotated[float, Interval(gt=0, lt=1)] = 0.3,
) -> DatasetBundle:
    """Digits as uint8 ``[1, image_size, image_size]`` images (grey levels 0..16 scaled
    to 0..255, bilinearly resized from 8x8), split train/test stratified with seed 0.
    Ships with scikit-learn, so ``root`` is ignored."""
    raw = load_digits()
    images = torch.from_numpy(raw.images * (255 / 16)).round().to(torch.uint8).unsqueeze(1)
    if image_size != images.shape[-1]:
        images = TF.resize(images, [image_size, image_size], antialias=True)
    labels = torch.from_numpy(raw.target).long()
    train_idx, test_idx = train_test_split(
        range(len(labels)), test_size=test_fraction, stratify=raw.target, random_state=0
    )
    return split_bundle("digits", images, labels, train_idx, test_idx, num_classes=10)
