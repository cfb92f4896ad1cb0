"""Image augmentations (torchvision.transforms.v2) and the collate functions that apply them:
``uint8`` ``[C, H, W]`` (a batch for the evaluation transform) -> normalised ``float32``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from sslcore import ConfigError
from sslcore_vision.view_distribution import ViewAugmentation, ViewDistribution, to_normalised_float

__all__ = [
    "LabelledImageCollate",
    "MultiCropCollate",
    "TwoViewCollate",
    "ViewAugmentation",
    "ViewDistribution",
    "ViewsCollate",
    "byol_augmentations",
    "dino_augmentations",
    "multi_crop_augmentations",
    "simclr_augmentation",
    "simclr_colour",
    "to_normalised_float",
    "view_augmentation",
]


def simclr_colour(strength: float) -> tuple[float, float, float, float]:
    """SimCLR's colour distortion of strength ``s`` as ColorJitter's ``(brightness,
    contrast, saturation, hue)``: ``(0.8 s, 0.8 s, 0.8 s, min(0.2 s, 0.5))`` (Chen et al.
    2020, appendix A; ``s = 0.5`` is the CIFAR setting, ``s = 0`` no jitter)."""
    return 0.8 * strength, 0.8 * strength, 0.8 * strength, min(0.2 * strength, 0.5)


def simclr_augmentation(
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    jitter: float = 0.5,
    blur: bool = False,
) -> ViewAugmentation:
    """The SimCLR view distribution t ~ T (Chen et al. 2020, appendix A), a
    :func:`view_augmentation`: random resized crop (area in ``[crop_min_scale, 1]``),
    horizontal flip, colour jitter of strength ``jitter`` (:func:`simclr_colour`) with
    p=0.8 (brightness and contrast only for grey images; random grayscale with p=0.2 for
    colour), Gaussian blur with p=0.5 if ``blur``, then normalisation.
    """
    return view_augmentation(
        image_size,
        channels,
        mean,
        std,
        scale=(crop_min_scale, 1.0),
        jitter=simclr_colour(jitter),
        blur_p=0.5 if blur else 0.0,
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


def view_augmentation(
    size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    scale: tuple[float, float] = (0.08, 1.0),
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1),
    jitter_p: float = 0.8,
    grayscale_p: float = 0.2,
    blur_p: float = 0.0,
    solarize_p: float = 0.0,
) -> ViewAugmentation:
    """One view distribution of the SimCLR / BYOL family (Grill et al. 2020, table 6):
    random resized crop to ``size`` x ``size`` (area fraction in ``scale``), horizontal
    flip, colour jitter ``(brightness, contrast, saturation, hue)`` with probability
    ``jitter_p`` (left out when all four are 0), random grayscale ``grayscale_p``, Gaussian
    blur ``blur_p`` (odd kernel about 10% of ``size``, sigma in [0.1, 2]), solarize
    ``solarize_p`` (uint8 pixels >= 128 inverted), then normalisation. Grey images get
    brightness and contrast jitter only and no grayscale. ``[C, H, W]`` uint8 ->
    ``[C, size, size]`` float32. The steps are read from a :class:`ViewDistribution`
    (``.distribution``), which the batched device path reads too.
    """
    distribution = ViewDistribution(
        size,
        channels,
        tuple(mean),
        tuple(std),
        scale=scale,
        jitter=jitter,
        jitter_p=jitter_p,
        grayscale_p=grayscale_p,
        blur_p=blur_p,
        solarize_p=solarize_p,
    )
    return ViewAugmentation(distribution)


def byol_augmentations(
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    crop_min_scale: float = 0.08,
    blur: tuple[float, float] = (1.0, 0.1),
    solarize: tuple[float, float] = (0.0, 0.2),
) -> tuple[ViewAugmentation, ViewAugmentation]:
    """BYOL's asymmetric pair ``(t, t')`` (Grill et al. 2020, table 6), also used by
    Barlow Twins: the same crop, flip, jitter (0.4, 0.4, 0.2, 0.1; p=0.8) and grayscale
    (p=0.2), but Gaussian blur with probability ``blur = (1.0, 0.1)`` and solarize with
    ``solarize = (0.0, 0.2)`` for view 1 and view 2."""
    first, second = (
        view_augmentation(image_size, channels, mean, std, (crop_min_scale, 1.0), blur_p=b, solarize_p=s)
        for b, s in zip(blur, solarize, strict=True)
    )
    return first, second


def multi_crop_augmentations(
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    local_size: float = 0.43,
    global_scale: tuple[float, float] = (0.14, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.14),
    jitter: float = 0.5,
    blur: float = 0.0,
) -> tuple[ViewAugmentation, ViewAugmentation]:
    """SwAV's multi-crop (Caron et al. 2020, sec. 3.2): ``(global, local)`` view
    distributions. Global crops keep the full side ``image_size`` (area fraction in
    ``global_scale``); local crops have side ``round(local_size * image_size)`` (the
    paper's 96/224 = 0.43) and area in ``local_scale``. Both use SimCLR's colour
    distortion of strength ``jitter`` (:func:`simclr_colour`; p=0.8, grayscale p=0.2) and
    blur with probability ``blur``."""
    colour = simclr_colour(jitter)
    small = max(1, round(local_size * image_size))
    return (
        view_augmentation(image_size, channels, mean, std, global_scale, colour, blur_p=blur),
        view_augmentation(small, channels, mean, std, local_scale, colour, blur_p=blur),
    )


def dino_augmentations(
    image_size: int,
    channels: int,
    mean: Sequence[float],
    std: Sequence[float],
    local_size: float = 0.43,
    global_scale: tuple[float, float] = (0.4, 1.0),
    local_scale: tuple[float, float] = (0.05, 0.4),
    blur: tuple[float, float, float] = (1.0, 0.1, 0.5),
    solarize: tuple[float, float, float] = (0.0, 0.2, 0.0),
) -> tuple[tuple[ViewAugmentation, ViewAugmentation], ViewAugmentation]:
    """DINO's multi-crop (Caron et al. 2021, appendix; iBOT's too): ``((global_1, global_2),
    local)`` for :class:`MultiCropCollate`. Every crop gets BYOL's colour steps (jitter
    ``(0.4, 0.4, 0.2, 0.1)`` with p=0.8, grayscale p=0.2); Gaussian blur and solarize
    probabilities are ``blur`` / ``solarize`` for global crop 1, global crop 2 and the local
    crops (the paper's ``(1.0, 0.1, 0.5)`` / ``(0.0, 0.2, 0.0)``). Global crops keep the
    side ``image_size`` with area in ``global_scale`` (paper: ``(0.4, 1)``); local crops
    have side ``round(local_size * image_size)`` (96/224 = 0.43) and area in
    ``local_scale`` (paper: ``(0.05, 0.4)``)."""
    small = max(1, round(local_size * image_size))
    sides, scales = (image_size, image_size, small), (global_scale, global_scale, local_scale)
    first, second, local = (
        view_augmentation(side, channels, mean, std, scale, blur_p=b, solarize_p=p)
        for side, scale, b, p in zip(sides, scales, blur, solarize, strict=True)
    )
    return (first, second), local


class ViewsCollate:
    """Collate ``N`` uint8 images ``[C, H, W]`` into one view ``[N, C, H_v, W_v]`` float32 per
    augmentation ``t_v`` (BYOL's asymmetric pair). A class so DataLoader workers can pickle it."""

    def __init__(self, augmentations: Sequence[Callable[[Tensor], Tensor]]):
        self.augmentations = tuple(augmentations)

    def __call__(self, samples: Sequence[Tensor]) -> tuple[Tensor, ...]:
        return tuple(torch.stack([augment(x) for x in samples]) for augment in self.augmentations)


class TwoViewCollate(ViewsCollate):
    """Collate ``N`` uint8 images ``[C, H, W]`` into two independently augmented views
    ``(view1, view2)``, each ``[N, C, H, W]`` float32."""

    def __init__(self, augmentation: Callable[[Tensor], Tensor]):
        super().__init__([augmentation, augmentation])
        self.augmentation = augmentation


class MultiCropCollate(ViewsCollate):
    """The multi-crop batch of SwAV, DINO and iBOT: ``num_global`` global views
    ``[N, C, S, S]`` then ``num_local`` local views ``[N, C, s, s]`` (sizes set by the
    augmentations). ``global_augmentation``: one augmentation for every global crop, or a
    sequence of them, global crop ``i`` drawn by ``global_augmentation[i % len]`` (DINO's
    asymmetric pair, :func:`dino_augmentations`). The targets (codes, teacher outputs) come
    from the global crops, so there must be at least one: :class:`~sslcore.ConfigError`
    otherwise."""

    def __init__(
        self,
        global_augmentation: Callable[[Tensor], Tensor] | Sequence[Callable[[Tensor], Tensor]],
        local_augmentation: Callable[[Tensor], Tensor],
        num_local: int,
        num_global: int = 2,
    ):
        if num_global < 1:
            raise ConfigError(
                f"MultiCropCollate: multi-crop needs at least one global crop (the crops its targets "
                f"come from), got num_global={num_global}; use e.g. num_global=2"
            )
        if num_local < 0:
            raise ValueError(f"MultiCropCollate: num_local must be >= 0, got {num_local}")
        globals_ = (
            tuple(global_augmentation)
            if isinstance(global_augmentation, Sequence)
            else (global_augmentation,)
        )
        if not globals_:
            raise ConfigError("MultiCropCollate: global_augmentation is an empty sequence; give at least one")
        crops = [globals_[i % len(globals_)] for i in range(num_global)]
        super().__init__(crops + [local_augmentation] * num_local)
        self.num_global, self.num_local = num_global, num_local
