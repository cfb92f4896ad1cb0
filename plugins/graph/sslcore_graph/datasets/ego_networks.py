"""Graph classification from one labelled graph: every node's ``hops``-hop ego-network,
labelled with the class of its centre node: a graph set for GraphCL / InfoGraph without
the TU files (docs/graph.md, "Datasets and data layout")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge
from scipy.sparse import csr_matrix
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import subgraph, to_scipy_sparse_matrix

from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore_graph.datasets.graphs import graph_bundle


def ego_network(
    graph: Data, adjacency: csr_matrix, centre: int, hops: int, max_nodes: int, generator: torch.Generator
) -> Data:
    r"""The ``hops``-hop ego-network of ``centre`` in ``graph`` (``adjacency``: its CSR
    adjacency matrix), at most ``max_nodes`` nodes: nearer hops are kept whole while they
    fit, the hop that overflows is sampled uniformly (``generator``). Node 0 is the
    centre; ``x`` is ``graph.x`` of the kept nodes with one more column, 1 at the centre
    and 0 elsewhere.

    Returns ``Data`` with ``x`` ``[n, F + 1]``, ``edge_index`` ``[2, E]`` (the induced
    edges, relabelled), ``y`` ``[1]`` (the centre's class) and ``centre`` (its index in
    ``graph``)."""
    kept, frontier, seen = [centre], [centre], {centre}
    for _ in range(hops):
        ring = sorted(set(adjacency[frontier].indices.tolist()) - seen)  # the frontier's neighbours
        room = max_nodes - len(kept)
        if len(ring) > room:
            pick = torch.randperm(len(ring), generator=generator)[:room].sort().values
            ring = [ring[i] for i in pick.tolist()]
        kept += ring
        seen.update(ring)
        frontier = ring
        if len(kept) >= max_nodes or not ring:
            break
    nodes = torch.tensor(kept, dtype=torch.long)
    edge_index, _ = subgraph(nodes, graph.edge_index, relabel_nodes=True, num_nodes=graph.num_nodes)
    marker = torch.zeros(len(kept), 1)
    marker[0] = 1.0
    x = torch.cat([graph.x[nodes], marker], dim=1)
    return Data(x=x, edge_index=edge_index, y=graph.y[centre].view(1), centre=centre)


def ego_networks_of(
    graph: Data, name: str, hops: int = 2, max_nodes: int = 64, seed: int = 0, nodes: Tensor | None = None
) -> DatasetBundle:
    """Graph-level ``DatasetBundle`` of the ego-networks of ``nodes`` (default: every node)
    of one labelled ``graph`` (see :func:`ego_network`); evaluation is stratified 10-fold
    cross-validation over them, like the TU benchmarks."""
    if hops < 1:
        raise ConfigError(f"ego_networks: hops must be at least 1, got {hops}")
    if max_nodes < 2:
        raise ConfigError(
            f"ego_networks: max_nodes must be at least 2 (the centre and a neighbour), got {max_nodes}"
        )
    if getattr(graph, "y", None) is None or graph.y.numel() != graph.num_nodes:
        raise ConfigError(f"ego_networks: {name!r} has no node labels to label the ego-networks with")
    generator = torch.Generator().manual_seed(seed)
    centres = torch.arange(graph.num_nodes) if nodes is None else nodes
    adjacency = to_scipy_sparse_matrix(graph.edge_index, num_nodes=graph.num_nodes).tocsr()
    graphs = [ego_network(graph, adjacency, int(v), hops, max_nodes, generator) for v in centres]
    return graph_bundle(name, graphs, [int(g.y) for g in graphs], source_nodes=len(centres), hops=hops)


def ego_networks(
    root: Path | None,
    source: str = "cora",
    hops: Annotated[int, Ge(1)] = 2,
    max_nodes: Annotated[int, Ge(2)] = 64,
    seed: int = 0,
) -> DatasetBundle:
    """Ego-networks of every node of the registered node-level dataset ``source`` (built
    with its default options from the same data root), labelled with their centres'
    classes: for Cora 2708 graphs, 7 classes, 1433 + 1 features."""
    from sslcore.build import build_dataset

    bundle = build_dataset(source, root)
    if bundle.domain != "graph" or bundle.sample != "node":
        raise ConfigError(
            f"ego_networks: source {source!r} is not a node-level graph dataset "
            "(use cora, citeseer, pubmed, sbm or karate)"
        )
    (graph,) = bundle.pretrain
    return ego_networks_of(graph, f"ego_networks-{source}", hops, max_nodes, seed)
