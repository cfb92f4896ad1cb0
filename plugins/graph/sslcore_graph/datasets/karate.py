"""Zachary's karate club (Zachary 1977), shipped with PyG, as a tiny demo graph."""

from __future__ import annotations

from pathlib import Path

from torch_geometric.datasets import KarateClub

from sslcore.data import DatasetBundle
from sslcore_graph.datasets.splits import seeded_node_split
from sslcore_graph.datasets.transductive import DEFAULT_FANOUT, BatchNodes, Fanout, transductive_bundle


def karate(
    root: Path | None = None,
    seed: int = 0,
    link_split: bool = False,
    link_seed: int = 0,
    batch_nodes: BatchNodes = None,
    fanout: Fanout = DEFAULT_FANOUT,
) -> DatasetBundle:
    """34 members, one-hot identity features, 4 communities (``root`` is ignored).

    PyG marks a single labelled node per class; for the probes a seeded split of 2
    training nodes per class, 4 validation nodes and the remaining 22 test nodes is used.
    ``link_split=True`` holds out edges for the ``link`` protocol; ``batch_nodes`` /
    ``fanout``: mini-batch pretraining on sampled subgraphs (both: see ``transductive_bundle``).
    """
    data = KarateClub()[0]
    del data.train_mask
    data = seeded_node_split(data, num_train_per_class=2, num_val=4, seed=seed)
    return transductive_bundle(
        "karate", data, link_split=link_split, link_seed=link_seed, batch_nodes=batch_nodes, fanout=fanout
    )
