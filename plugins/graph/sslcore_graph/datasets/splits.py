"""Seeded node splits for graphs that ship without one."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import RandomNodeSplit


def seeded_node_split(data: Data, num_train_per_class: int, num_val: int, seed: int) -> Data:
    """Add ``train_mask`` / ``val_mask`` / ``test_mask`` with PyG's ``RandomNodeSplit``
    (``num_train_per_class`` labelled nodes per class, ``num_val`` validation nodes, the
    rest test), drawn from ``seed`` without touching the global random state."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return RandomNodeSplit("test_rest", num_train_per_class=num_train_per_class, num_val=num_val)(data)
