"""Wrap one labelled graph as a transductive node-classification ``DatasetBundle``."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch_geometric.data import Data

from sslcore.data import DatasetBundle, EvalSet
from sslcore_graph.checks import check_graph
from sslcore_graph.link_split import held_out_edge_split


def collate_node_labels(items: list[tuple[Data, Tensor]]) -> tuple[Data, Tensor]:
    """EvalSet collate for a transductive graph: ``[(graph, y)] -> (graph, y)``, with
    ``y`` ``[num_nodes]`` (one label per embedded node)."""
    if len(items) != 1:
        raise ValueError(f"a transductive graph evaluates as one item, got a batch of {len(items)}")
    return items[0]


def transductive_bundle(
    name: str,
    data: Data,
    link_split: bool = False,
    link_seed: int = 0,
) -> DatasetBundle:
    """``DatasetBundle`` for full-graph training on ``data`` (with ``x``, ``edge_index``,
    ``y`` and boolean ``train_mask`` / ``val_mask`` / ``test_mask`` ``[num_nodes]``).

    ``pretrain = [data]`` with ``batch_size = 1``; evaluation is the single item
    ``(data, data.y)`` and ``splits`` are the node indices of the masks. The masks stay on
    ``data`` but the pretext tasks never read ``y`` or the masks.

    ``link_split=True`` holds out edges (:func:`~sslcore_graph.link_split.held_out_edge_split`,
    seeded by ``link_seed``; plugins/graph/README.md, "Held-out edges and the ``link``
    protocol"): the graph keeps the training edges only, ``splits`` gains the held-out pairs.
    """
    check_graph(data, f"dataset {name!r}")
    if getattr(data, "y", None) is None:
        raise ValueError(
            f"dataset {name!r}: the graph has no node labels (y), which the node-classification "
            f"evaluation needs"
        )
    edge_splits: dict[str, Any] = {}
    if link_split:
        data, edge_splits = held_out_edge_split(data, seed=link_seed)
    splits = {
        split: getattr(data, f"{split}_mask").nonzero().view(-1).numpy() for split in ("train", "val", "test")
    } | edge_splits
    num_classes = int(data.y.max()) + 1
    return DatasetBundle(
        name=name,
        domain="graph",
        sample="node",
        pretrain=[data],
        evaluation=EvalSet(
            dataset=[(data, data.y)],
            splits=splits,
            collate=collate_node_labels,
            batch_size=1,
            num_classes=num_classes,
        ),
        info={"num_features": data.num_features, "num_classes": num_classes, "num_nodes": data.num_nodes},
        batch_size=1,
    )
