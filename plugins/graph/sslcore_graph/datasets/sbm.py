"""A synthetic stochastic-block-model graph for demos and tests (needs no files)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge, Interval
from torch_geometric.data import Data
from torch_geometric.utils import stochastic_blockmodel_graph

from sslcore.data import DatasetBundle
from sslcore_graph.datasets.splits import seeded_node_split
from sslcore_graph.datasets.transductive import transductive_bundle


def sbm_graph(
    num_classes: int = 4,
    nodes_per_class: int = 100,
    p_in: float = 0.05,
    p_out: float = 0.005,
    num_features: int = 1024,
    noise: float = 8.0,
    seed: int = 0,
) -> Data:
    r"""Undirected SBM graph whose blocks are the classes, with noisy class-dependent
    features :math:`x_i = \mu_{y_i} + \sigma \epsilon_i`, :math:`\mu_c \sim N(0, I)`,
    :math:`\epsilon_i \sim N(0, I)`, :math:`\sigma` = ``noise``.

    The defaults give more features than ``gcn``'s 512 outputs: with fewer, a randomly
    initialised one-layer GCN is already a full-rank linear map of the smoothed features
    and a linear probe cannot tell it from a pretrained one; with more (as on Cora's
    1433), the projection DGI learns matters.

    Returns ``Data`` with ``x`` ``[N, num_features]``, ``edge_index`` ``[2, E]`` and
    ``y`` ``[N]``, ``N = num_classes * nodes_per_class``; same ``seed``, same graph.
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(num_classes).repeat_interleave(nodes_per_class)
    edge_probs = torch.full((num_classes, num_classes), p_out).fill_diagonal_(p_in)
    with torch.random.fork_rng():  # stochastic_blockmodel_graph draws from the global RNG
        torch.manual_seed(seed)
        edge_index = stochastic_blockmodel_graph([nodes_per_class] * num_classes, edge_probs)
    means = torch.randn(num_classes, num_features, generator=gen)
    x = means[y] + noise * torch.randn(len(y), num_features, generator=gen)
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
    link_split: bool = False,
    link_seed: int = 0,
) -> DatasetBundle:
    """Dataset factory for :func:`sbm_graph` (``root`` is ignored) with a seeded split of
    20 training nodes per class, 100 validation nodes and the rest for test;
    ``link_split=True`` holds out edges for the ``link`` protocol (see ``transductive_bundle``)."""
    data = sbm_graph(num_classes, nodes_per_class, p_in, p_out, num_features, noise, seed)
    data = seeded_node_split(data, num_train_per_class=20, num_val=100, seed=seed)
    return transductive_bundle("sbm", data, link_split=link_split, link_seed=link_seed)
