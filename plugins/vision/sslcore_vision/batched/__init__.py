"""Batched view augmentation on the batch's device (the device path of the view tasks):
every image its own random crop, flip, colour jitter, grayscale, blur and solarize, drawn
from the same :class:`~sslcore_vision.view_distribution.ViewDistribution` as the per-image
CPU path and applied with batched torch operations.

Built on torch and torchvision only. kornia's ``kornia.augmentation`` also draws per-sample
parameters on the device, but it would be a new dependency with its own parameter
distributions (crop sampling, jitter ranges and order) that would have to be re-checked
against torchvision's; reading torchvision's definitions (``ColorJitter``'s parsed ranges,
``RandomResizedCrop``'s sampling, ``resize``'s antialiased weights) keeps one definition
for both paths.
"""

from sslcore_vision.batched.params import ViewParams, sample_params
from sslcore_vision.batched.views import BatchedViewAugmentation, BatchedViews, StackedImages

__all__ = ["BatchedViewAugmentation", "BatchedViews", "StackedImages", "ViewParams", "sample_params"]
