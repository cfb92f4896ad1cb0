"""Moving arbitrary batches (tensors, mappings, sequences, PyG / HF objects) to a device."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def channels_last(batch: Any) -> Any:
    """4-D floating tensors of ``batch`` (image batches ``[N, C, H, W]``) stored NHWC
    (``torch.channels_last``); everything else unchanged."""
    if isinstance(batch, torch.Tensor):
        if batch.dim() == 4 and batch.is_floating_point():
            return batch.contiguous(memory_format=torch.channels_last)
        return batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(channels_last(v) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(channels_last(v) for v in batch)
    if isinstance(batch, Mapping) and not hasattr(batch, "to"):
        return type(batch)({k: channels_last(v) for k, v in batch.items()})  # type: ignore[call-arg]
    return batch


def move_to(batch: Any, device: torch.device | str) -> Any:
    """Recursively move tensors in ``batch`` to ``device``; objects with a ``.to``
    method (PyG ``Data``, HF ``BatchEncoding``) are moved with it."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping) and not hasattr(batch, "to"):
        return type(batch)({k: move_to(v, device) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(move_to(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device) for v in batch)
    if hasattr(batch, "to") and callable(batch.to):
        try:
            return batch.to(device, non_blocking=True)
        except TypeError:  # a .to without non_blocking
            return batch.to(device)
    return batch
