"""Transfer setting (GCC, Qiu et al. 2020): pretrain on some graphs, evaluate on another."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import torch
from annotated_types import Ge
from torch_geometric.data import Data
from torch_geometric.utils import barabasi_albert_graph, to_undirected

from sslcore.data import DatasetBundle
from sslcore_graph.datasets.sbm import sbm_graph

#: pretraining sources that need no files, besides any registered graph dataset name
SYNTHETIC = ("sbm", "ba")


def structure_only(edge_index: torch.Tensor, num_nodes: int) -> Data:
    """A featureless graph (``x`` is a constant column): transfer pretraining reads edges only."""
    return Data(x=torch.ones(num_nodes, 1), edge_index=edge_index, num_nodes=num_nodes)


def synthetic_graphs(kind: str, count: int, seed: int) -> list[Data]:
    """``count`` synthetic graphs: ``"sbm"`` (4 blocks x 250 nodes, p_in 0.02, p_out 0.002,
    different seeds) or ``"ba"`` (Barabási-Albert, 1000 nodes, 2 or 3 edges per new node:
    heavy-tailed degrees like citation graphs)."""
    graphs = []
    for i in range(count):
        if kind == "sbm":
            g = sbm_graph(
                num_classes=4, nodes_per_class=250, p_in=0.02, p_out=0.002, num_features=1, seed=seed + i
            )
            graphs.append(structure_only(g.edge_index, g.num_nodes))
        elif kind == "ba":
            with torch.random.fork_rng():
                torch.manual_seed(seed + i)
                edge_index = barabasi_albert_graph(1000, 2 + i % 2)
            graphs.append(structure_only(to_undirected(edge_index, num_nodes=1000), 1000))
        else:
            raise ValueError(f"unknown synthetic graph kind {kind!r}; choose from {SYNTHETIC}")
    return graphs


def transfer(
    root: Path | None,
    pretrain_on: Sequence[str] = ("sbm", "ba", "karate"),
    evaluate_on: str = "cora",
    num_synthetic: Annotated[int, Ge(1)] = 4,
    seed: int = 0,
) -> DatasetBundle:
    """Pretraining graphs from ``pretrain_on``, evaluation (and ``info``) from ``evaluate_on``.

    ``pretrain_on`` entries: ``"sbm"`` / ``"ba"`` (``num_synthetic`` synthetic graphs each,
    see :func:`synthetic_graphs`) or any registered graph dataset name (``karate``,
    ``citeseer``, ``pubmed``, ``tudataset``, ...; built with its default options from the
    same data root; its pretraining graphs are used). ``evaluate_on``: a registered graph
    dataset whose evaluation set is used unchanged (default ``cora``: the public split).
    Pretraining graphs carry a constant feature only: this dataset is for structural
    tasks such as ``gcc``, which never read node features. Using the evaluation graph
    for pretraining as well is allowed but warned about (it is then not a transfer).
    """
    from sslcore.build import build_dataset  # the core's registry, resolved at call time

    if not pretrain_on:
        raise ValueError("transfer: pretrain_on is empty")
    if evaluate_on in pretrain_on:
        warnings.warn(
            f"transfer: {evaluate_on!r} is both a pretraining source and the evaluation graph",
            UserWarning,
            stacklevel=2,
        )
    graphs: list[Data] = []
    for source in pretrain_on:
        if source in SYNTHETIC:
            graphs += synthetic_graphs(source, num_synthetic, seed)
        else:
            bundle = build_dataset(source, root)
            graphs += [structure_only(g.edge_index, g.num_nodes) for g in bundle.pretrain]
    target = build_dataset(evaluate_on, root)
    info = dict(target.info) | {"pretrain_graphs": len(graphs), "pretrain_on": list(pretrain_on)}
    return DatasetBundle(
        name=f"transfer-{evaluate_on}",
        domain="graph",
        sample=target.sample,
        pretrain=graphs,
        evaluation=target.evaluation,
        info=info,
    )
