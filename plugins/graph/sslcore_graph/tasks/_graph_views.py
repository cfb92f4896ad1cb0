"""GraphCL's four graph augmentations (You et al. 2020), each ``Data -> Data`` with a
ratio (GraphCL's ``aug_ratio``, default 0.2), built on :mod:`sslcore_graph.augment` or,
where it differs, on the reference's ``unsupervised_TU/aug.py``; inputs are never modified."""

from __future__ import annotations

import copy

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import Compose
from torch_geometric.utils import subgraph

from sslcore_graph.augment import AddEdges, DropEdges, DropNodes


def _induced(data: Data, keep: torch.Tensor) -> Data:
    """``data`` restricted to the nodes ``keep`` (sorted ids), edges relabelled."""
    keep = keep.sort().values
    edge_index, _ = subgraph(keep, data.edge_index, relabel_nodes=True, num_nodes=data.num_nodes)
    out = copy.copy(data)
    out.x, out.edge_index, out.num_nodes = data.x[keep], edge_index, len(keep)
    if getattr(data, "edge_attr", None) is not None:  # edge attributes are not carried over
        out.edge_attr = None
    return out


def drop_nodes(data: Data, ratio: float = 0.2) -> Data:
    """Node dropping: each node removed with probability ``ratio``, with its edges
    (:class:`sslcore_graph.augment.DropNodes`; the reference drops exactly
    ``int(ratio * n)`` nodes)."""
    return DropNodes(ratio)(data)


def perturb_edges(data: Data, ratio: float = 0.2) -> Data:
    """Edge perturbation: each edge (pair, on an undirected graph) dropped with probability
    ``ratio``, then ``ratio`` times the remaining edges added as random non-edges
    (:class:`~sslcore_graph.augment.DropEdges` then :class:`~sslcore_graph.augment.AddEdges`)."""
    return Compose([DropEdges(ratio), AddEdges(ratio)])(data)


def mask_attributes(data: Data, ratio: float = 0.2) -> Data:
    r"""Replace the features of ``int(ratio * n)`` random nodes by Gaussian noise
    :math:`\mathcal N(0.5, 0.5^2)` (the reference's masking)."""
    n = data.num_nodes
    idx = torch.randperm(n)[: int(n * ratio)]
    out = copy.copy(data)
    out.x, out.num_nodes = data.x.clone(), n
    out.x[idx] = 0.5 + 0.5 * torch.randn(len(idx), data.x.shape[1], dtype=data.x.dtype)
    return out


def random_walk_subgraph(data: Data, ratio: float = 0.2) -> Data:
    """Keep a connected-by-walk subgraph of ``max(1, int((1 - ratio) * n))`` nodes: start at
    a random node and repeatedly add a random neighbour of the kept set (the reference's
    ``subgraph``); stops early if the component is exhausted."""
    n = data.num_nodes
    target = max(1, int(n * (1 - ratio)))
    src, dst = data.edge_index
    kept = torch.zeros(n, dtype=torch.bool)
    kept[torch.randint(0, n, ())] = True
    while int(kept.sum()) < target:
        frontier = dst[kept[src] & ~kept[dst]].unique()
        if len(frontier) == 0:
            break
        kept[frontier[torch.randint(0, len(frontier), ())]] = True
    return _induced(data, kept.nonzero().view(-1))


AUGMENTATIONS = {
    "drop_nodes": drop_nodes,
    "perturb_edges": perturb_edges,
    "mask_attributes": mask_attributes,
    "subgraph": random_walk_subgraph,
}
