"""Text pretext tasks."""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor


def input_tokens(batch: Mapping[str, Tensor]) -> float | Tensor:
    """Non-padding input tokens of the batch (the ``tokens`` throughput metric; a device
    scalar, read by the trainer at its log points)."""
    mask = batch.get("attention_mask")
    return mask.sum() if mask is not None else float(batch["input_ids"].numel())
