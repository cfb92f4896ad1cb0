"""What the instance-instance image tasks share: the data facts their views need, the
``from_data`` recipes of their view distributions, a base whose views are drawn on the CPU
in ``collate`` or on the batch's device after the transfer (``augment_on``), and the swap
of two stacked views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple, get_args

import torch
from annotated_types import Ge, Interval
from torch import Tensor, nn

from sslcore import ConfigError, ContrastiveTask
from sslcore.data import info_get
from sslcore_vision.batched import BatchedViews, StackedImages
from sslcore_vision.channels import check_encoder_channels
from sslcore_vision.transforms import ViewAugmentation, ViewsCollate, byol_augmentations, simclr_augmentation

AugmentOn = Literal["auto", "cpu", "device"]
#: the probability of an augmentation step (blur, solarize) in a task option
Probability = Annotated[float, Interval(ge=0, le=1)]
AUGMENT_ON: tuple[str, ...] = get_args(AugmentOn)


class ImageFacts(NamedTuple):
    """The dataset facts the view distributions take, in their argument order."""

    image_size: int
    channels: int
    mean: Sequence[float]
    std: Sequence[float]


def image_facts(encoder: nn.Module, info: Mapping[str, Any], task: str) -> ImageFacts:
    """``image_size``, ``in_channels``, ``mean``, ``std`` from ``info``, after checking the
    encoder takes ``in_channels`` channels (:class:`~sslcore.ConfigError` otherwise)."""
    channels = info_get(info, "in_channels")
    check_encoder_channels(encoder, info, task)
    return ImageFacts(info_get(info, "image_size"), channels, info_get(info, "mean"), info_get(info, "std"))


def simclr_views(task: str, min_scale: float) -> Any:
    """The ``from_data`` classmethod of ``task`` whose two views share SimCLR's distribution
    (:func:`~sslcore_vision.transforms.simclr_augmentation`), crops of at least ``min_scale``
    of the area by default (SimCLR 0.08; MoCo v2 and SimSiam 0.2). The task's ``__init__``
    takes ``(encoder, augmentation, **options)``."""

    def from_data(
        cls: Any,
        encoder: nn.Module,
        info: Mapping[str, Any],
        crop_min_scale: Annotated[float, Interval(gt=0, le=1)] = min_scale,
        jitter: Annotated[float, Ge(0)] = 0.5,
        blur: bool = False,
        **options: Any,
    ) -> ImageViewsTask:
        """Views from ``info`` (``image_size``, ``in_channels``, ``mean``, ``std``), after
        checking the encoder takes ``in_channels`` channels: crops of at least
        ``crop_min_scale`` of the area, colour ``jitter`` strength, Gaussian ``blur`` or not;
        other options go to ``__init__``."""
        facts = image_facts(encoder, info, task)
        augmentation = simclr_augmentation(*facts, crop_min_scale=crop_min_scale, jitter=jitter, blur=blur)
        return cls(encoder, augmentation, **options)

    return classmethod(from_data)


def byol_views(task: str) -> Any:
    """The ``from_data`` classmethod of ``task`` whose views are BYOL's asymmetric pair
    (:func:`~sslcore_vision.transforms.byol_augmentations`; BYOL, Barlow Twins). The task's
    ``__init__`` takes ``(encoder, augmentations, **options)``."""

    def from_data(
        cls: Any,
        encoder: nn.Module,
        info: Mapping[str, Any],
        crop_min_scale: Annotated[float, Interval(gt=0, le=1)] = 0.08,
        blur: tuple[Probability, Probability] = (1.0, 0.1),
        solarize: tuple[Probability, Probability] = (0.0, 0.2),
        **options: Any,
    ) -> ImageViewsTask:
        """BYOL's pair from ``info`` (as :func:`simclr_views`): ``blur`` and ``solarize`` are
        the two views' probabilities; other options go to ``__init__``."""
        views = byol_augmentations(*image_facts(encoder, info, task), crop_min_scale, blur, solarize)
        return cls(encoder, views, **options)

    return classmethod(from_data)


def device_views(views: ViewsCollate, augment_on: str, task: str) -> BatchedViews | None:
    """The batched (device) path of ``views``, or ``None`` where an augmentation is not a
    :class:`~sslcore_vision.transforms.ViewAugmentation` (a custom callable); checks
    ``augment_on`` (:class:`~sslcore.ConfigError` for an unknown value, or ``"device"``
    without a batched path)."""
    if augment_on not in AUGMENT_ON:
        raise ConfigError(f"{task}: augment_on must be one of {', '.join(AUGMENT_ON)}, got {augment_on!r}")
    custom = [type(a).__name__ for a in views.augmentations if not isinstance(a, ViewAugmentation)]
    if not custom:
        return BatchedViews([a.distribution for a in views.augmentations])
    if augment_on == "device":
        raise ConfigError(
            f"{task}: augment_on='device' needs ViewAugmentation views (sslcore_vision.transforms."
            f"view_augmentation); got {', '.join(custom)}, which only run per image on the CPU"
        )
    return None


class AugmentsOnDevice(nn.Module):
    """Where a task draws its views: ``augment_on`` and the batched path ``device_views``
    (``None`` where there is none), set by the task; :attr:`augments_on_device` says which
    path :meth:`collate` takes. Mix in before the task's base class."""

    augment_on: str = "auto"
    device_views: BatchedViews | None = None
    _on_cuda: bool = False

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> AugmentsOnDevice:
        """After ``.to()`` / ``.cuda()`` / ``.cpu()``: note (as a plain bool, which
        ``collate`` may read) whether the parameters are on a CUDA device."""
        module = super()._apply(fn, *args, **kwargs)
        self._on_cuda = any(p.is_cuda for p in self.parameters())
        return module

    @property
    def augments_on_device(self) -> bool:
        """Whether ``collate`` leaves the views to ``on_after_batch_transfer``: ``augment_on``
        is ``"device"``, or ``"auto"`` with the parameters on CUDA (and a batched path)."""
        if self.device_views is None or self.augment_on == "cpu":
            return False
        return self.augment_on == "device" or self._on_cuda


class ImageViewsTask(AugmentsOnDevice, ContrastiveTask):
    """An instance-instance image task whose batch is a tuple of views ``[N, C, H_v, W_v]``
    drawn from ``N`` uint8 images ``[C, H, W]`` by ``views`` (a picklable collate of
    :mod:`sslcore_vision.transforms`).

    ``augment_on``: ``"cpu"`` draws the views per image in :meth:`collate` (the DataLoader
    workers); ``"device"`` makes :meth:`collate` only stack the uint8 images
    (:class:`~sslcore_vision.batched.StackedImages`) and :meth:`on_after_batch_transfer`
    draw the views from the whole batch on its device
    (:class:`~sslcore_vision.batched.BatchedViews`, the same distributions); ``"auto"``
    (default) is ``"device"`` while the task's parameters are on a CUDA device and
    ``"cpu"`` otherwise. :meth:`forward` also takes stacked images (for callers that skip
    the transfer hook).
    """

    domain = "vision"
    family = "instance-instance"

    def __init__(
        self, encoder: nn.Module, head: nn.Module, views: ViewsCollate, augment_on: AugmentOn = "auto"
    ):
        super().__init__(encoder, head)
        self.views, self.augment_on = views, augment_on
        self.device_views = device_views(views, augment_on, type(self).__name__)

    def collate(self, samples: Sequence[Tensor]) -> tuple[Tensor, ...] | StackedImages:
        if self.augments_on_device:
            return StackedImages(torch.stack(list(samples)))
        return self.views(samples)

    def on_after_batch_transfer(self, batch: Any) -> Any:
        """Stacked images -> their views, drawn on the images' device; views pass through."""
        if isinstance(batch, StackedImages) and self.device_views is not None:
            return self.device_views(batch.images)
        return batch

    def as_views(self, batch: tuple[Tensor, ...] | StackedImages) -> tuple[Tensor, ...]:
        """The views of a batch (drawn now if it still holds stacked images)."""
        return self.on_after_batch_transfer(batch)


def swap_halves(z: Tensor) -> Tensor:
    """``[z1; z2] -> [z2; z1]`` along the batch: each view's row faces the other view's."""
    first, second = z.chunk(2)
    return torch.cat([second, first])
