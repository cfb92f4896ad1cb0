"""The raw-feature baseline of text (hook ``sslcore_raw_features``): a bag of tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor


def bag_of_tokens(inputs: Any, vocab_size: int | None) -> Tensor:
    """``log(1 + count)`` of each token of the vocabulary in each row ``[B, vocab_size]`` of
    a tokenised batch (``input_ids`` ``[B, L]``; positions outside ``attention_mask`` are
    not counted)."""
    if not isinstance(inputs, Mapping) or "input_ids" not in inputs:
        raise TypeError(f"the text raw-feature baseline needs a tokenised batch, got {type(inputs).__name__}")
    if vocab_size is None:
        raise ValueError("the text raw-feature baseline needs the dataset's tokenizer in its info")
    ids, mask = inputs["input_ids"], inputs.get("attention_mask")
    weights = torch.ones_like(ids, dtype=torch.float32) if mask is None else mask.float()
    counts = torch.zeros(ids.shape[0], vocab_size, device=ids.device)
    counts.scatter_add_(1, ids, weights)
    return torch.log1p(counts)
