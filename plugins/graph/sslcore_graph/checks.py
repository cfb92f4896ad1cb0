"""Validation of graph inputs, so a malformed graph fails with a message naming the
problem instead of an index error deep inside message passing."""

from __future__ import annotations

from typing import Any

from torch import Tensor


def check_graph(data: Any, where: str = "graph") -> None:
    """Raise ``ValueError`` unless ``data`` is a non-empty graph whose ``edge_index``
    ``[2, num_edges]`` only references nodes ``0 .. num_nodes - 1`` of ``x``
    ``[num_nodes, num_features]``.

    ``where`` names the graph in the message (e.g. ``"dataset 'cora'"``).
    """
    x = getattr(data, "x", None)
    edge_index = getattr(data, "edge_index", None)
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        hint = (
            " (a graph without node features needs some first: the graph datasets add one-hot degree "
            "or constant features, dataset option missing_features='degree'|'constant')"
            if x is None
            else ""
        )
        raise ValueError(
            f"{where}: node features x must be a 2-D tensor [num_nodes, num_features], got {shape}{hint}"
        )
    num_nodes = x.shape[0]
    if num_nodes == 0:
        raise ValueError(f"{where}: the graph is empty (0 nodes)")
    if data.num_nodes is not None and data.num_nodes != num_nodes:
        raise ValueError(f"{where}: num_nodes is {data.num_nodes} but x has {num_nodes} rows")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise ValueError(f"{where}: edge_index must be a tensor of shape [2, num_edges], got {shape}")
    if edge_index.numel() > 0:
        low, high = int(edge_index.min()), int(edge_index.max())
        if low < 0 or high >= num_nodes:
            raise ValueError(
                f"{where}: edge_index out of range: it references node ids {low}..{high} "
                f"but the graph has {num_nodes} nodes (valid ids 0..{num_nodes - 1})"
            )
