"""Colour crops of the two photos that ship with scikit-learn (``china.jpg`` and
``flower.jpg``, :func:`sklearn.datasets.load_sample_images`): a colour dataset that needs
no files, for trying and testing the colour tasks (colorization)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from sklearn.datasets import load_sample_images

from sslcore import ConfigError, DatasetBundle
from sslcore_vision.datasets.image_bundle import resize_square, split_bundle


def sample_photos(
    root: Path | None = None,
    crops_per_photo: Annotated[int, Ge(2)] = 128,
    crop_size: Annotated[int, Interval(ge=1, le=427)] = 96,
    image_size: Annotated[int, Ge(1)] = 32,
    test_fraction: Annotated[float, Interval(gt=0, lt=1)] = 0.25,
    seed: int = 0,
) -> DatasetBundle:
    """``crops_per_photo`` random ``crop_size`` squares of each photo (427x640 pixels),
    resized to uint8 RGB ``[3, image_size, image_size]``; the label says which photo
    (2 classes). A fixed shuffle (``seed``) holds out ``test_fraction`` of the crops for
    evaluation; the rest is the pretraining set. Ships with scikit-learn, so ``root`` is
    ignored."""
    if crops_per_photo < 2 or not 0 < test_fraction < 1:
        raise ConfigError(
            f"sample-photos: needs crops_per_photo >= 2 and 0 < test_fraction < 1, got {crops_per_photo} "
            f"and {test_fraction}"
        )
    if not 1 <= crop_size <= 427 or image_size < 1:
        raise ConfigError(
            f"sample-photos: crop_size must be in [1, 427] (the photos are 427x640) and image_size >= 1, "
            f"got {crop_size} and {image_size}"
        )
    generator = torch.Generator().manual_seed(seed)
    crops, labels = [], []
    for label, photo in enumerate(load_sample_images().images):
        image = torch.from_numpy(photo.copy()).permute(2, 0, 1)  # [3, H, W] uint8
        tops = torch.randint(0, image.shape[1] - crop_size + 1, (crops_per_photo,), generator=generator)
        lefts = torch.randint(0, image.shape[2] - crop_size + 1, (crops_per_photo,), generator=generator)
        crops += [
            image[:, top : top + crop_size, left : left + crop_size]
            for top, left in zip(tops.tolist(), lefts.tolist(), strict=True)
        ]
        labels += [label] * crops_per_photo
    order = torch.randperm(len(crops), generator=generator)
    images = resize_square(torch.stack(crops)[order], image_size)
    targets = torch.tensor(labels)[order]
    n_test = max(2, round(test_fraction * len(images)))
    return split_bundle("sample-photos", images, targets, range(n_test, len(images)), range(n_test), 2)
