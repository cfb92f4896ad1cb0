"""Wrap one labelled graph as a transductive node-classification ``DatasetBundle``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from annotated_types import Ge, MinLen
from torch import Tensor
from torch_geometric.data import Data

from sslcore.data import DatasetBundle, EvalSet
from sslcore.errors import ConfigError
from sslcore_graph.checks import check_graph
from sslcore_graph.link_split import held_out_edge_split
from sslcore_graph.sampling import NeighborSubgraphs, check_fanout

#: the ``batch_nodes`` dataset option: seed nodes per mini-batch, None = the full graph per step
BatchNodes = Annotated[int, Ge(1)] | None
#: the ``fanout`` dataset option: neighbours sampled per message-passing layer, -1 = all
Fanout = Annotated[tuple[Annotated[int, Ge(-1)], ...], MinLen(1)]
#: default ``fanout``: 10 neighbours for each of two layers (PyG's NeighborLoader examples)
DEFAULT_FANOUT = (10, 10)


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
    batch_nodes: int | None = None,
    fanout: Sequence[int] = DEFAULT_FANOUT,
) -> DatasetBundle:
    """``DatasetBundle`` for full-graph training on ``data`` (with ``x``, ``edge_index``,
    ``y`` and boolean ``train_mask`` / ``val_mask`` / ``test_mask`` ``[num_nodes]``).

    ``pretrain = [data]`` with ``batch_size = 1``; evaluation is the single item
    ``(data, data.y)`` and ``splits`` are the node indices of the masks. The masks stay on
    ``data`` but the pretext tasks never read ``y`` or the masks.

    ``batch_nodes=B`` trains in mini-batches instead: ``pretrain`` is
    :class:`~sslcore_graph.sampling.NeighborSubgraphs` ``(data, fanout)`` (one subgraph
    sampled around each batch of ``B`` seed nodes, ``fanout[l]`` neighbours at hop ``l``,
    ``-1`` = all; labels and masks left out) with ``batch_size = B``, so the trainer
    shuffles the seed nodes every epoch. Evaluation stays full-graph. ``fanout`` is
    ignored without ``batch_nodes``.

    ``link_split=True`` holds out edges (:func:`~sslcore_graph.link_split.held_out_edge_split`,
    seeded by ``link_seed``; plugins/graph/README.md, "Held-out edges and the ``link``
    protocol"): the graph keeps the training edges only, ``splits`` gains the held-out pairs.
    """
    check_graph(data, f"dataset {name!r}")
    if batch_nodes is not None and (isinstance(batch_nodes, bool) or batch_nodes < 1):
        raise ConfigError(
            f"dataset {name!r}: batch_nodes must be an int >= 1 (seed nodes per mini-batch) or None "
            f"(the full graph per step), got {batch_nodes!r}"
        )
    fanout = check_fanout(fanout, f"dataset {name!r}: fanout")
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
        pretrain=[data] if batch_nodes is None else NeighborSubgraphs(data, fanout),
        evaluation=EvalSet(
            dataset=[(data, data.y)],
            splits=splits,
            collate=collate_node_labels,
            batch_size=1,
            num_classes=num_classes,
        ),
        info={"num_features": data.num_features, "num_classes": num_classes, "num_nodes": data.num_nodes},
        batch_size=1 if batch_nodes is None else batch_nodes,
    )
