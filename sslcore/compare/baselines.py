"""The raw-feature baseline: a parameter-free "task" whose ``embed`` returns the inputs
themselves, so the same protocol runs on them as on learned embeddings.

- images ``[B, C, H, W]`` (any float tensor): flattened pixels ``[B, C*H*W]``;
- text (a mapping with ``input_ids`` and ``attention_mask``): bag-of-tokens
  ``log(1 + count)`` over the vocabulary ``[B, vocab_size]``;
- a transductive graph (PyG ``Data``): the node features ``x`` ``[num_nodes, F]``;
- a batch of graphs (PyG ``Batch``): the mean of each graph's node features ``[num_graphs, F]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn


class RawFeatures(nn.Module):
    def __init__(self, vocab_size: int | None = None):
        super().__init__()
        self.vocab_size = vocab_size

    @classmethod
    def from_info(cls, info: Mapping[str, Any]) -> RawFeatures:
        tokenizer = info.get("tokenizer")
        return cls(len(tokenizer) if tokenizer is not None else None)

    def embed(self, inputs: Any) -> Tensor:
        if isinstance(inputs, Tensor):
            return inputs.flatten(1).float()
        if isinstance(inputs, Mapping) and "input_ids" in inputs:
            return self._bag_of_tokens(inputs["input_ids"], inputs.get("attention_mask"))
        x = getattr(inputs, "x", None)
        if isinstance(x, Tensor):
            if hasattr(inputs, "to_data_list"):  # a Batch of graphs: one row per graph
                from torch_geometric.utils import scatter

                return scatter(x.float(), inputs.batch, dim=0, dim_size=inputs.num_graphs, reduce="mean")
            return x.float()
        raise TypeError(
            f"no raw-feature baseline for evaluation inputs of type {type(inputs).__name__}: expected an "
            "image tensor, a tokenised text batch (input_ids) or a PyG Data/Batch with node features x"
        )

    def _bag_of_tokens(self, ids: Tensor, mask: Tensor | None) -> Tensor:
        if self.vocab_size is None:
            raise ValueError("the text raw-feature baseline needs the dataset's tokenizer in its info")
        weights = torch.ones_like(ids, dtype=torch.float32) if mask is None else mask.float()
        counts = torch.zeros(ids.shape[0], self.vocab_size, device=ids.device)
        counts.scatter_add_(1, ids, weights)
        return torch.log1p(counts)
