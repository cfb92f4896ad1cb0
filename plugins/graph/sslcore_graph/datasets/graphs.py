"""Graph-level datasets: collate functions, the missing-feature fallback and
:func:`from_pyg`, which wraps any PyG ``Data`` or dataset as a ``DatasetBundle``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import Tensor
from torch_geometric.data import Batch, Data
from torch_geometric.transforms import OneHotDegree
from torch_geometric.utils import degree

from sslcore.data import DatasetBundle, EvalSet
from sslcore_graph.checks import check_graph
from sslcore_graph.datasets.splits import seeded_node_split
from sslcore_graph.datasets.transductive import transductive_bundle

MissingFeatures = Literal["degree", "constant"]


def collate_graphs(graphs: list[Data]) -> Batch:
    """``[Data] -> Batch`` (``Batch.from_data_list``): node features stacked, ``batch``
    ``[total_nodes]`` maps each node to its graph."""
    return Batch.from_data_list(graphs)


def collate_graph_labels(items: list[tuple[Data, Any]]) -> tuple[Batch, Tensor]:
    """EvalSet collate of a graph-classification set: ``[(graph, label)] -> (Batch, y)``
    with ``y`` ``[num_graphs]`` (one row per graph from ``task.embed``)."""
    graphs, labels = zip(*items)
    return Batch.from_data_list(list(graphs)), torch.as_tensor([int(y) for y in labels])


class CappedOneHotDegree(OneHotDegree):
    """``OneHotDegree`` whose degrees above ``max_degree`` share the last column."""

    def forward(self, data: Data) -> Data:
        deg = degree(data.edge_index[0], data.num_nodes, dtype=torch.long).clamp_(max=self.max_degree)
        data.x = torch.nn.functional.one_hot(deg, self.max_degree + 1).float()
        return data


def add_missing_features(
    graphs: list[Data], name: str, missing_features: MissingFeatures = "degree", degree_cap: int = 1000
) -> list[Data]:
    """Give featureless graphs (``x is None``) node features, with a warning.

    ``"degree"``: one-hot node degree (``OneHotDegree(D)``, ``D`` the largest degree in
    the data, at most ``degree_cap``; higher degrees share the last column), the usual
    choice for social networks (IMDB, REDDIT, COLLAB). ``"constant"``: a single feature 1
    per node (InfoGraph's choice). Graphs that have ``x`` are returned unchanged.
    """
    if all(g.x is not None for g in graphs):
        return graphs
    if missing_features not in ("degree", "constant"):
        raise ValueError(f"missing_features must be 'degree' or 'constant', got {missing_features!r}")
    if missing_features == "degree":
        top = max(  # the largest out-degree (0 for graphs without edges)
            (int(degree(g.edge_index[0], g.num_nodes).max()) if g.edge_index.numel() else 0 for g in graphs),
            default=0,
        )
        transform = OneHotDegree(top) if top <= degree_cap else CappedOneHotDegree(degree_cap)
        what = f"one-hot degree features (max degree {min(top, degree_cap)})"
    else:
        transform = None
        what = "a constant feature 1 per node"
    warnings.warn(
        f"dataset {name!r}: graphs have no node features; using {what} "
        f"(dataset option missing_features='degree'|'constant')",
        UserWarning,
        stacklevel=3,
    )
    out = []
    for g in graphs:
        if g.x is None:
            g = g.clone()
            if transform is not None:
                g = transform(g)
                g.x = g.x.float()
            else:
                g.x = torch.ones(g.num_nodes, 1)
        out.append(g)
    return out


def graph_bundle(
    name: str, graphs: Sequence[Data], labels: Sequence[int] | Tensor | None = None, **extra_info: Any
) -> DatasetBundle:
    """``DatasetBundle`` of a graph-classification set: ``pretrain`` = the graphs (a task's
    collate batches them); evaluation = ``(graph, label)`` items with ``splits=None``, so
    the probes run stratified 10-fold cross-validation (InfoGraph / GraphCL protocol)."""
    graphs = list(graphs)
    for i, g in enumerate(graphs):
        check_graph(g, f"dataset {name!r}, graph {i}")
    widths = {g.x.shape[1] for g in graphs}
    if len(widths) != 1:
        raise ValueError(f"dataset {name!r}: graphs have different feature widths {sorted(widths)}")
    evaluation = None
    info: dict[str, Any] = {"num_features": widths.pop(), "num_graphs": len(graphs)}
    if labels is not None:
        y = torch.as_tensor(labels).view(-1).long()
        if len(y) != len(graphs):
            raise ValueError(f"dataset {name!r}: {len(y)} labels for {len(graphs)} graphs")
        num_classes = int(y.max()) + 1
        info["num_classes"] = num_classes
        evaluation = EvalSet(
            dataset=list(zip(graphs, y.tolist())),
            splits=None,
            collate=collate_graph_labels,
            batch_size=128,
            num_classes=num_classes,
        )
    return DatasetBundle(
        name=name,
        domain="graph",
        sample="graph",
        pretrain=graphs,
        evaluation=evaluation,
        info=info | extra_info,
    )


def from_pyg(
    data: Data | Sequence[Data],
    name: str = "pyg",
    missing_features: MissingFeatures = "degree",
    split_seed: int = 0,
) -> DatasetBundle:
    """Wrap a PyG ``Data`` or dataset (``InMemoryDataset``, ``Dataset`` or list of ``Data``)
    as a ``DatasetBundle`` usable with ``build_task`` / ``Trainer`` / the probes.

    - One graph (a ``Data``, or a dataset of length 1): a transductive node-level bundle.
      Its ``train_mask`` / ``val_mask`` / ``test_mask`` are used if present, otherwise a
      seeded split (20 labelled nodes per class, 10 % validation, rest test) is drawn;
      without ``y`` there is no evaluation set.
    - Several graphs: a graph-level bundle (``pretrain`` = the graphs; evaluation =
      ``(graph, graph.y)`` with 10-fold cross-validation, if every graph has a ``y``).

    Graphs without ``x`` get fallback features (``missing_features``, with a warning).
    """
    graphs = [data] if isinstance(data, Data) else [data[i] for i in range(len(data))]
    if not graphs:
        raise ValueError(f"from_pyg({name!r}): the dataset is empty")
    graphs = add_missing_features(graphs, name, missing_features)
    if len(graphs) == 1:
        graph = graphs[0]
        if getattr(graph, "y", None) is None or graph.y.dim() != 1 or graph.y.numel() != graph.num_nodes:
            check_graph(graph, f"dataset {name!r}")
            return DatasetBundle(
                name, "graph", "node", [graph], None, {"num_features": graph.num_features}, batch_size=1
            )
        if not all(hasattr(graph, f"{s}_mask") for s in ("train", "val", "test")):
            num_val = max(1, graph.num_nodes // 10)
            graph = seeded_node_split(graph, num_train_per_class=20, num_val=num_val, seed=split_seed)
        return transductive_bundle(name, graph)
    labelled = all(getattr(g, "y", None) is not None and g.y.numel() == 1 for g in graphs)
    labels = [int(g.y) for g in graphs] if labelled else None
    return graph_bundle(name, graphs, labels)
