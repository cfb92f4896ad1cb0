"""A synthetic stochastic-block-model graph for demos and tests (needs no files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from annotated_types import Ge, Interval
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import stochastic_blockmodel_graph

from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore_graph.datasets.splits import seeded_node_split
from sslcore_graph.datasets.transductive import DEFAULT_FANOUT, BatchNodes, Fanout, transductive_bundle

#: ``generator="auto"`` uses PyG's dense generator up to this many nodes (it enumerates all
#: N (N - 1) / 2 node pairs: about 80 MB at 2048 nodes), the sparse one above
DENSE_MAX_NODES = 2048


def sbm_edge_probs(
    num_classes: int, nodes_per_class: int, p_in: float, p_out: float, avg_degree: float | None = None
) -> tuple[float, float]:
    r"""The within- and between-block edge probabilities :math:`(p_{in}, p_{out})`.

    With ``avg_degree`` :math:`\bar d` set, both are scaled by one factor so that a node's
    expected degree is :math:`\bar d` and the ratio :math:`p_{in} / p_{out}` is kept:
    :math:`c\,\big(p_{in}(n - 1) + p_{out}(N - n)\big) = \bar d`, :math:`n` = ``nodes_per_class``,
    :math:`N = K n`. Raises ``ConfigError`` when a probability would exceed 1."""
    if avg_degree is None:
        return p_in, p_out
    n, num_nodes = nodes_per_class, num_classes * nodes_per_class
    degree = p_in * (n - 1) + p_out * (num_nodes - n)
    if degree <= 0:
        raise ConfigError(
            f"sbm: avg_degree={avg_degree} needs p_in or p_out > 0 (their ratio is kept), got "
            f"p_in={p_in}, p_out={p_out}"
        )
    scale = avg_degree / degree
    if max(p_in, p_out) * scale > 1:
        raise ConfigError(
            f"sbm: avg_degree={avg_degree} is too high for {num_classes} blocks of {nodes_per_class} "
            f"nodes with p_in / p_out = {p_in} / {p_out} (a probability would exceed 1); lower "
            "avg_degree or p_in / p_out, or add nodes"
        )
    return p_in * scale, p_out * scale


def _distinct_pairs(count: int, n_a: int, n_b: int, same: bool, rng: np.random.Generator) -> np.ndarray:
    """``count`` distinct node pairs drawn uniformly, as keys ``i * n_b + j`` ``[count]``:
    ``i < n_a``, ``j < n_b``; with ``same`` (a block with itself) ``i < j``. Draws uniform
    pairs with replacement, keeps the distinct ones and draws again for the shortfall, then
    keeps a uniform subset of ``count``: a uniform ``count``-subset of the pairs."""
    keys = np.empty(0, dtype=np.int64)
    while len(keys) < count:
        need = count - len(keys)
        draw = need + need // 8 + 16
        i, j = rng.integers(0, n_a, draw), rng.integers(0, n_b, draw)
        if same:
            keep = i != j
            i, j = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
        keys = np.unique(np.concatenate([keys, i * n_b + j]))
    return keys if len(keys) == count else keys[rng.permutation(len(keys))[:count]]


def _all_pairs(n_a: int, n_b: int, same: bool) -> np.ndarray:
    """Every node pair of a block pair as keys ``i * n_b + j`` (``same``: ``i < j``)."""
    if same:
        i, j = np.triu_indices(n_a, k=1)
        return i.astype(np.int64) * n_b + j
    return np.arange(n_a * n_b, dtype=np.int64)


def sparse_sbm_edge_index(block_sizes: list[int], edge_probs: Tensor, seed: int) -> Tensor:
    r"""Undirected SBM ``edge_index`` ``[2, E]`` in time and memory linear in the edges.

    Every unordered pair of distinct nodes :math:`\{u, v\}`, :math:`u` in block :math:`a`,
    :math:`v` in block :math:`b`, is an edge with probability :math:`P_{ab}` (``edge_probs``
    ``[K, K]``, symmetric), independently, as :func:`torch_geometric.utils.stochastic_blockmodel_graph`
    (which enumerates all :math:`N^2/2` pairs). Per block pair: the edge count
    :math:`m \sim \mathrm{Binomial}(n_a n_b, P_{ab})` (:math:`\binom{n_a}{2}` pairs within a
    block), then a uniform :math:`m`-subset of the pairs; when :math:`m` is over half the pairs
    the complement is drawn instead. Both directions of each pair are returned, coalesced
    (sorted by source, then target), without self-loops. Random numbers: ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    offsets = np.concatenate([[0], np.cumsum(block_sizes)]).astype(np.int64)
    num_nodes, k = int(offsets[-1]), len(block_sizes)
    probs = edge_probs.double().numpy()
    sources, targets = [], []
    for a in range(k):
        for b in range(a, k):
            n_a, n_b, p = block_sizes[a], block_sizes[b], float(probs[a, b])
            pairs = n_a * (n_a - 1) // 2 if a == b else n_a * n_b
            if pairs == 0 or p <= 0:
                continue
            count = int(rng.binomial(pairs, min(p, 1.0)))
            if count > pairs // 2:  # dense block: draw the pairs that are not edges
                dropped = _distinct_pairs(pairs - count, n_a, n_b, a == b, rng)
                keys = np.setdiff1d(_all_pairs(n_a, n_b, a == b), dropped, assume_unique=True)
            else:
                keys = _distinct_pairs(count, n_a, n_b, a == b, rng)
            sources.append(keys // n_b + offsets[a])
            targets.append(keys % n_b + offsets[b])
    if not sources:
        return torch.empty(2, 0, dtype=torch.long)
    src, dst = np.concatenate(sources), np.concatenate(targets)
    directed = np.concatenate([src * num_nodes + dst, dst * num_nodes + src])
    del src, dst, sources, targets
    directed.sort()
    return torch.from_numpy(np.stack([directed // num_nodes, directed % num_nodes]))


def sbm_graph(
    num_classes: int = 4,
    nodes_per_class: int = 100,
    p_in: float = 0.05,
    p_out: float = 0.005,
    num_features: int = 1024,
    noise: float = 8.0,
    seed: int = 0,
    avg_degree: float | None = None,
    generator: Literal["auto", "dense", "sparse"] = "auto",
) -> Data:
    r"""Undirected SBM graph whose blocks are the classes, with noisy class-dependent
    features :math:`x_i = \mu_{y_i} + \sigma \epsilon_i`, :math:`\mu_c \sim N(0, I)`,
    :math:`\epsilon_i \sim N(0, I)`, :math:`\sigma` = ``noise``.

    The defaults give more features than ``gcn``'s 512 outputs: with fewer, a randomly
    initialised one-layer GCN is already a full-rank linear map of the smoothed features
    and a linear probe cannot tell it from a pretrained one; with more (as on Cora's
    1433), the projection DGI learns matters.

    Edges: each pair of nodes of the same class with probability ``p_in``, of different
    classes ``p_out``; ``avg_degree`` rescales both to that expected degree
    (:func:`sbm_edge_probs`). ``generator``: ``"dense"`` is PyG's
    ``stochastic_blockmodel_graph`` (quadratic in N; the graphs made before the sparse one
    existed), ``"sparse"`` is :func:`sparse_sbm_edge_index` (linear in the edges: 2 million
    nodes and 20 million edges in about a minute), ``"auto"`` the dense one up to
    ``DENSE_MAX_NODES`` nodes. Both draw the same distribution, not the same graph.

    Returns ``Data`` with ``x`` ``[N, num_features]`` (float32), ``edge_index`` ``[2, E]``
    (both directions of every edge, no self-loops) and ``y`` ``[N]``,
    ``N = num_classes * nodes_per_class``; same arguments, same graph.
    """
    num_nodes = num_classes * nodes_per_class
    if generator not in ("auto", "dense", "sparse"):
        raise ConfigError(f"sbm: generator must be 'auto', 'dense' or 'sparse', got {generator!r}")
    p_in, p_out = sbm_edge_probs(num_classes, nodes_per_class, p_in, p_out, avg_degree)
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(nodes_per_class)
    edge_probs = torch.full((num_classes, num_classes), p_out).fill_diagonal_(p_in)
    if generator == "dense" or (generator == "auto" and num_nodes <= DENSE_MAX_NODES):
        with torch.random.fork_rng():  # stochastic_blockmodel_graph draws from the global RNG
            torch.manual_seed(seed)
            edge_index = stochastic_blockmodel_graph([nodes_per_class] * num_classes, edge_probs)
    else:
        edge_index = sparse_sbm_edge_index([nodes_per_class] * num_classes, edge_probs, seed)
    means = torch.randn(num_classes, num_features, generator=gen)
    x = torch.randn(num_nodes, num_features, generator=gen).mul_(noise)  # = means[y] + noise * eps,
    x.view(num_classes, nodes_per_class, num_features).add_(means.unsqueeze(1))  # without an [N, F] copy
    return Data(x=x, edge_index=edge_index, y=y)


def sbm(
    root: Path | None = None,
    num_classes: Annotated[int, Ge(1)] = 4,
    nodes_per_class: Annotated[int, Ge(1)] = 100,
    p_in: Annotated[float, Interval(ge=0, le=1)] = 0.05,
    p_out: Annotated[float, Interval(ge=0, le=1)] = 0.005,
    num_features: Annotated[int, Ge(1)] = 1024,
    noise: Annotated[float, Ge(0)] = 8.0,
    seed: int = 0,
    avg_degree: Annotated[float, Ge(0)] | None = None,
    generator: Literal["auto", "dense", "sparse"] = "auto",
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """Dataset factory for :func:`sbm_graph` (``root`` is ignored) with a seeded split of
    20 training nodes per class, 100 validation nodes and the rest for test;
    ``link_split=True`` holds out edges for the ``link`` protocol and ``batch_nodes`` /
    ``fanout`` select mini-batch pretraining (both: see ``transductive_bundle``).
    ``avg_degree`` and ``generator`` size the graph (:func:`sbm_graph`; docs/graph.md, "Large
    graphs"), e.g. 2 million nodes: ``num_classes=10, nodes_per_class=200000, avg_degree=11,
    num_features=128``."""
    data = sbm_graph(
        num_classes, nodes_per_class, p_in, p_out, num_features, noise, seed, avg_degree, generator
    )
    data = seeded_node_split(data, num_train_per_class=20, num_val=100, seed=seed)
    return transductive_bundle(
        "sbm", data, link_split=link_split, link_seed=link_seed, batch_nodes=batch_nodes, fanout=fanout
    )
