"""Image augmentations (torchvision.transforms.v2) and the collate functions that apply them.

Every transform takes a ``uint8`` image ``[C, H, W]`` (or a batch ``[B, C, H, W]`` for
the evaluation transform) and returns ``float32`` normalised with the dataset's mean/std.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from torchvision.transforms import v2


def to_normalised_float(mean: Sequence[float], std: Sequence[float]) -> v2.Compose:
    """uint8 -> float in [0, 1] -> ``(x - mean) / std``, per channel."""
    return v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))])


def simclr_augmentation(
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    jitter: float = 0.5,
    blur: bool = False,
) -> v2.Compose:
    """The SimCLR view distribution t ~ T (Chen et al. 2020, appendix A):
    random resized crop, horizontal flip, colour jitter with p=0.8 (brightness and
    contrast only for grey images; plus saturation, hue and random grayscale with p=0.2
    for colour), optional Gaussian blur with p=0.5, then normalisation.

    ``jitter`` is the paper's colour strength ``s``: brightness, contrast and saturation
    ``0.8 s``, hue ``0.2 s`` (``s = 0.5`` is the CIFAR setting); ``0`` disables jitter.
    """
    steps: list[Callable[[Tensor], Tensor]] = [
        v2.RandomResizedCrop(image_size, scale=(crop_min_scale, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
    ]
    if jitter > 0:
        strength = 0.8 * jitter
        if channels == 3:
            colour = v2.ColorJitter(strength, strength, strength, min(0.2 * jitter, 0.5))
        else:
            colour = v2.ColorJitter(brightness=strength, contrast=strength)
        steps.append(v2.RandomApply([colour], p=0.8))
    if channels == 3:
        steps.append(v2.RandomGrayscale(p=0.2))
    if blur:
        kernel = max(3, (image_size // 10) | 1)  # odd, about 10% of the side as in the paper
        steps.append(v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=0.5))
    steps.append(to_normalised_float(mean, std))
    return v2.Compose(steps)


class TwoViewCollate:
    """Collate ``N`` uint8 images into two independently augmented views.

    ``samples``: list of ``[C, H, W]`` uint8 -> ``(view1, view2)``, each ``[N, C, H, W]``
    float32. A class (not a closure) so DataLoader workers can pickle it.
    """

    def __init__(self, augmentation: Callable[[Tensor], Tensor]):
        self.augmentation = augmentation

    def __call__(self, samples: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        return (
            torch.stack([self.augmentation(x) for x in samples]),
            torch.stack([self.augmentation(x) for x in samples]),
        )


class LabelledImageCollate:
    """Collate ``(uint8 image, label)`` items into ``(normalised float images, labels)``:
    ``[N, C, H, W]`` float32 and ``[N]`` int64, for the evaluation protocols."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.transform = to_normalised_float(mean, std)

    def __call__(self, items: Sequence[tuple[Tensor, int | Tensor]]) -> tuple[Tensor, Tensor]:
        images = torch.stack([image for image, _ in items])
        labels = torch.as_tensor([int(label) for _, label in items], dtype=torch.long)
        return self.transform(images), labels
