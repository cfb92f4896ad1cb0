"""GraphCL's four graph augmentations (You et al. 2020), each ``Data -> Data`` with a
ratio (GraphCL's ``aug_ratio``, default 0.2), built on :mod:`sslcore_graph.augment` or,
where it differs, on the reference's ``unsupervised_TU/aug.py``; inputs are never modified.

Every augmentation also takes ``keep_centre`` (default ``False``): node 0 is then never
dropped, masked or left out of a subgraph. For ego-networks (``ego_networks`` dataset,
labelled with their centre's class, the centre stored as node 0) a view without its
centre, or with the centre's features replaced, no longer shows what the label is about
(docs/graph.md, "GraphCL and GCC on Cora")."""

from __future__ import annotations

import copy
from typing import Literal

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


def drop_nodes(data: Data, ratio: float = 0.2, keep_centre: bool = False) -> Data:
    """Node dropping: each node removed with probability ``ratio``, with its edges
    (:class:`sslcore_graph.augment.DropNodes`; the reference drops exactly
    ``int(ratio * n)`` nodes). ``keep_centre``: node 0 is always kept (and stays node 0)."""
    if not keep_centre:
        return DropNodes(ratio)(data)
    keep = torch.rand(int(data.num_nodes)) >= ratio
    keep[0] = True
    return data.subgraph(keep.to(data.edge_index.device))


def perturb_edges(data: Data, ratio: float = 0.2, keep_centre: bool = False) -> Data:
    """Edge perturbation: each edge (pair, on an undirected graph) dropped with probability
    ``ratio``, then ``ratio`` times the remaining edges added as random non-edges
    (:class:`~sslcore_graph.augment.DropEdges` then :class:`~sslcore_graph.augment.AddEdges`).
    Every node is kept, so ``keep_centre`` changes nothing."""
    return Compose([DropEdges(ratio), AddEdges(ratio)])(data)


def mask_attributes(
    data: Data, ratio: float = 0.2, keep_centre: bool = False, token: Literal["noise", "zero"] = "noise"
) -> Data:
    r"""Replace the features ``x`` ``[n, F]`` of ``int(ratio * n)`` random nodes (of nodes
    ``1 .. n - 1`` with ``keep_centre``) by a token: ``"noise"``, Gaussian noise
    :math:`\mathcal N(0.5, 0.5^2)` in every column (the reference's masking for the TU
    datasets' few one-hot columns), or ``"zero"``, a zero row (the reference's masking for
    Cora's bag-of-words, ``unsupervised_Cora_Citeseer/aug.py``: on row-normalised sparse
    features, whose rows have an L2 norm near 0.2, a noise row of 1433 columns has a norm
    near 27 and dominates a sum readout and the encoder's BatchNorm statistics)."""
    if token not in ("noise", "zero"):
        raise ValueError(f"mask_attributes: token must be 'noise' or 'zero', got {token!r}")
    n = data.num_nodes
    first = int(bool(keep_centre))
    idx = first + torch.randperm(n - first)[: int(n * ratio)]
    out = copy.copy(data)
    out.x, out.num_nodes = data.x.clone(), n
    if token == "zero":
        out.x[idx] = 0.0
    else:
        out.x[idx] = 0.5 + 0.5 * torch.randn(len(idx), data.x.shape[1], dtype=data.x.dtype)
    return out


def random_walk_subgraph(data: Data, ratio: float = 0.2, keep_centre: bool = False) -> Data:
    """Keep a connected-by-walk subgraph of ``max(1, int((1 - ratio) * n))`` nodes: start at
    a random node (node 0 with ``keep_centre``) and repeatedly add a random neighbour of
    the kept set (the reference's ``subgraph``); stops early if the component is exhausted."""
    n = data.num_nodes
    target = max(1, int(n * (1 - ratio)))
    src, dst = data.edge_index
    kept = torch.zeros(n, dtype=torch.bool)
    kept[0 if keep_centre else torch.randint(0, n, ())] = True
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
