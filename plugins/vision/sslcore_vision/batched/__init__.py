"""Batched view augmentation on the batch's device (the device path of the view tasks): every
image its own random draws from the same :class:`~sslcore_vision.view_distribution.ViewDistribution`
as the per-image CPU path (why torch only, not kornia: plugins/vision/README.md, 'Views on the device')."""

from sslcore_vision.batched.params import ViewParams, sample_params
from sslcore_vision.batched.views import BatchedViewAugmentation, BatchedViews, StackedImages

__all__ = ["BatchedViewAugmentation", "BatchedViews", "StackedImages", "ViewParams", "sample_params"]
