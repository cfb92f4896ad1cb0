"""Held-out edges for link prediction: a seeded ``RandomLinkSplit`` whose training graph
is what a task pretrains on and whose validation / test edges it never sees."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import RandomLinkSplit

#: the split of Kipf & Welling (2016): 85 % training, 5 % validation, 10 % test edges
VAL_FRACTION, TEST_FRACTION = 0.05, 0.10

#: keys of the held-out pairs in ``EvalSet.splits`` (each ``[2, num_pairs]`` node ids),
#: read by the core's ``link`` protocol
LINK_SPLIT_KEYS = ("link_val", "link_val_negative", "link_test", "link_test_negative")


def held_out_edge_split(
    data: Data, seed: int = 0, val: float = VAL_FRACTION, test: float = TEST_FRACTION
) -> tuple[Data, dict[str, np.ndarray]]:
    """Split the edges of an undirected graph (each edge stored in both directions).

    Returns ``(train_graph, pairs)``: ``train_graph`` is ``data`` with ``edge_index``
    ``[2, E_train]`` holding only the training edges (both directions); ``pairs`` maps
    :data:`LINK_SPLIT_KEYS` to ``[2, num_pairs]`` int64 arrays: the held-out validation /
    test edges (one direction each) and as many negative pairs, sampled by PyG among the
    node pairs that are not edges of ``data``.

    PyG's ``RandomLinkSplit`` drawn from ``seed`` without touching the global random state:
    same graph and seed, same split.
    """
    if data.edge_index.shape[1] == 0:
        raise ValueError("cannot hold out edges: the graph has no edges")
    splitter = RandomLinkSplit(
        num_val=val, num_test=test, is_undirected=True, add_negative_train_samples=False
    )
    python_state = random.getstate()  # PyG's negative sampling also draws from `random`
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            random.seed(seed)
            train, valid, held = splitter(data)
    finally:
        random.setstate(python_state)
    pairs: dict[str, np.ndarray] = {}
    for key, part in (("link_val", valid), ("link_test", held)):
        label = part.edge_label.bool()
        pairs[key] = part.edge_label_index[:, label].numpy()
        pairs[f"{key}_negative"] = part.edge_label_index[:, ~label].numpy()
    train_graph = data.clone()
    train_graph.edge_index = train.edge_index
    return train_graph, pairs
