"""Any directory tree ``root/<class>/<image>`` read by ``torchvision.datasets.ImageFolder``,
decoded once into uint8 tensors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from PIL import Image
from sklearn.model_selection import train_test_split
from torch import Tensor
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from sslcore import ConfigError, DataNotFoundError, DatasetBundle
from sslcore_vision.datasets.image_bundle import split_bundle
from sslcore_vision.datasets.torchvision_files import CorruptDataError

MODES = {1: "L", 3: "RGB"}


class DecodeImage:
    """ImageFolder's loader: ``path -> uint8 [channels, H, W]``; an unreadable file
    raises :class:`CorruptDataError` naming it."""

    def __init__(self, channels: int):
        self.mode = MODES[channels]

    def __call__(self, path: str) -> Tensor:
        try:
            with Image.open(path) as image:
                return TF.pil_to_tensor(image.convert(self.mode))
        except Exception as exc:  # PIL raises OSError, ValueError, SyntaxError, ...
            raise CorruptDataError(
                f"dataset 'image-folder': cannot read image {path} ({type(exc).__name__}: {exc}); "
                "remove or replace the file"
            ) from exc


def image_folder(
    root: Path | None,
    folder: str | None = None,
    image_size: Annotated[int, Ge(1)] | None = None,
    test_fraction: Annotated[float, Interval(gt=0, lt=1)] = 0.2,
    channels: int = 3,
) -> DatasetBundle:
    """Images in ``root/<class>/<image>`` (or ``root/<folder>/<class>/<image>``), one
    class per sub-folder (ImageFolder's extensions: .jpg, .png, .bmp, .webp, ...), as
    uint8 ``[channels, H, W]`` (``channels`` 3: RGB, 1: grey).

    ``image_size`` resizes the shorter side to ``image_size`` and center-crops a square
    (needed when the images differ in size); every image is decoded once, when the data
    is built. A fixed stratified split (seed 0) holds out ``test_fraction`` of each class
    for evaluation; the training part is the pretraining set.
    """
    if channels not in MODES:
        raise ConfigError(f"image-folder: channels must be 1 (grey) or 3 (RGB), got {channels}")
    if not 0 < test_fraction < 1:
        raise ConfigError(f"image-folder: test_fraction must be between 0 and 1, got {test_fraction}")
    if image_size is not None and image_size < 1:
        raise ConfigError(f"image-folder: image_size must be >= 1, got {image_size}")
    layout = "<class>/<image> (one sub-folder of images per class)"
    if root is None:
        raise DataNotFoundError("image-folder", "<no --data-root given>", [layout])
    tree = Path(root).expanduser() / (folder or "")
    transform = None
    if image_size is not None:
        transform = v2.Compose([v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    try:
        data = ImageFolder(tree, transform=transform, loader=DecodeImage(channels))
    except FileNotFoundError as exc:  # no folder, no class folders or no image in them
        raise DataNotFoundError("image-folder", tree.resolve(), [layout], hint=str(exc)) from exc
    decoded = [data[i][0] for i in range(len(data))]  # every image once; without a resize, all one size
    sizes = Counter(tuple(im.shape[-2:]) for im in decoded)
    if len(sizes) > 1:
        (common, _), (other, _) = sizes.most_common(2)
        path = data.samples[next(i for i, im in enumerate(decoded) if tuple(im.shape[-2:]) == other)][0]
        raise ConfigError(
            f"dataset 'image-folder': images have {len(sizes)} different sizes (height x width: most are {common[0]}x{common[1]}, "
            f"{path} is {other[0]}x{other[1]}); pass image_size=<side> to resize and center-crop them all"
        )
    images, labels = torch.stack(decoded), torch.as_tensor(data.targets, dtype=torch.long)
    counts = Counter(labels.tolist())
    if min(counts.values()) < 2:
        sparse = [data.classes[c] for c, n in sorted(counts.items()) if n < 2]
        raise ConfigError(
            f"image-folder: the stratified split needs at least 2 images per class; {', '.join(sparse)} under {tree} "
            "has fewer"
        )
    try:
        train_idx, test_idx = train_test_split(
            range(len(labels)), test_size=test_fraction, stratify=labels.numpy(), random_state=0
        )
    except ValueError as exc:  # e.g. fewer test images than classes
        raise ConfigError(f"image-folder: cannot split {len(labels)} images of {tree}: {exc}") from exc
    return split_bundle(
        "image-folder", images, labels, sorted(train_idx), sorted(test_idx), len(data.classes)
    )
