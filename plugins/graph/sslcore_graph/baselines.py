"""The raw-feature baseline of graphs (hook ``sslcore_raw_features``): node features."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.data import Batch
from torch_geometric.utils import scatter


def node_features(inputs: Any) -> Tensor:
    """The node features ``x`` ``[num_nodes, F]`` of a graph (PyG ``Data``: node-level
    evaluation), or the mean of each graph's ``[num_graphs, F]`` for a ``Batch``."""
    x = getattr(inputs, "x", None)
    if not isinstance(x, Tensor):
        raise TypeError(
            f"no raw-feature baseline for evaluation inputs of type {type(inputs).__name__}: the graph "
            "one needs a PyG Data/Batch with node features x"
        )
    if isinstance(inputs, Batch):
        return scatter(x.float(), inputs.batch, dim=0, dim_size=inputs.num_graphs, reduce="mean")
    return x.float()
