"""Plumbing shared by the graph-level tasks: one embedding per graph of a ``Batch``."""

from __future__ import annotations

from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import global_add_pool


def graph_embeddings(encoder: nn.Module, batch: Batch) -> Tensor:
    """``[num_graphs, d]`` for a ``Batch`` of graphs.

    The plugin's encoders (``gin``, ``gcn``, ...) provide ``graph_embed`` (their readout of
    the node embeddings). For a user module without it: an output with one row per graph
    is used as is, one row per node is sum-pooled per graph (``global_add_pool``).
    """
    num_graphs = int(batch.num_graphs)
    if hasattr(encoder, "graph_embed"):
        return encoder.graph_embed(batch)
    out = encoder(batch)
    if out.shape[0] == num_graphs:
        return out
    if out.shape[0] == batch.num_nodes:
        return global_add_pool(out, batch.batch, size=num_graphs)
    raise ValueError(
        f"{type(encoder).__name__} returned {out.shape[0]} rows for a batch of {num_graphs} graphs "
        f"with {batch.num_nodes} nodes; expected one row per graph or per node"
    )


def node_and_graph_embeddings(encoder: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
    """Node embeddings ``[num_nodes, d]`` (``encoder(batch)``) and their per-graph readout
    ``[num_graphs, d]`` (the encoder's ``readout`` if it has one, else the sum)."""
    h = encoder(batch)
    if h.shape[0] != batch.num_nodes:
        raise ValueError(
            f"{type(encoder).__name__} returned {h.shape[0]} rows for {batch.num_nodes} nodes; "
            "this task needs node embeddings from the encoder (one row per node)"
        )
    if hasattr(encoder, "readout") and callable(encoder.readout):
        return h, encoder.readout(batch, h)
    return h, global_add_pool(h, batch.batch, size=int(batch.num_graphs))
