from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from sslcore.build import build_dataset
from sslcore.errors import ConfigError
from sslcore_graph.datasets.ego_networks import ego_networks_of


def neighbours(graph: Data, v: int) -> set[int]:
    src, dst = graph.edge_index
    return set(dst[src == v].tolist())


def test_one_hop_ego_networks_are_the_centre_and_its_neighbours(small_graph: Data) -> None:
    bundle = ego_networks_of(small_graph, "ego", hops=1, max_nodes=1000)
    assert len(bundle.pretrain) == small_graph.num_nodes
    assert bundle.info["num_features"] == small_graph.num_features + 1
    for v, ego in enumerate(bundle.pretrain):
        assert ego.centre == v and int(ego.y) == int(small_graph.y[v])
        assert ego.num_nodes == 1 + len(neighbours(small_graph, v))
        assert ego.x[:, -1].tolist() == [1.0] + [0.0] * (ego.num_nodes - 1)  # centre marker
        assert torch.equal(ego.x[0, :-1], small_graph.x[v])


def test_ego_network_edges_are_the_induced_edges(small_graph: Data) -> None:
    ego = ego_networks_of(small_graph, "ego", hops=2, max_nodes=1000).pretrain[7]
    # recover each node's source index from its features (the SBM features are distinct)
    index = [int((small_graph.x == row).all(1).nonzero()) for row in ego.x[:, :-1]]
    expected = {
        (a, b)
        for a in range(ego.num_nodes)
        for b in range(ego.num_nodes)
        if index[b] in neighbours(small_graph, index[a])
    }
    assert set(map(tuple, ego.edge_index.t().tolist())) == expected
    two_hops = {u for w in neighbours(small_graph, 7) for u in neighbours(small_graph, w)}
    assert set(index) == {7} | neighbours(small_graph, 7) | two_hops


def test_max_nodes_keeps_the_nearest_hop_whole_and_samples_the_next(small_graph: Data) -> None:
    full = ego_networks_of(small_graph, "ego", hops=2, max_nodes=1000).pretrain
    capped = ego_networks_of(small_graph, "ego", hops=2, max_nodes=12, seed=3).pretrain
    again = ego_networks_of(small_graph, "ego", hops=2, max_nodes=12, seed=3).pretrain
    for v, (big, small, same) in enumerate(zip(full, capped, again)):
        assert small.num_nodes == min(12, big.num_nodes)
        assert torch.equal(small.x, same.x)  # same seed, same sample
        ring = len(neighbours(small_graph, v))
        if ring < 12:  # the 1-hop ring fits: it is kept whole, right after the centre
            rows = {tuple(r) for r in small.x[1 : 1 + ring, :-1].tolist()}
            assert rows == {tuple(small_graph.x[u].tolist()) for u in neighbours(small_graph, v)}


def test_ego_networks_bundle_probes_by_cross_validation(small_graph: Data) -> None:
    bundle = ego_networks_of(small_graph, "ego")
    assert bundle.sample == "graph" and bundle.evaluation.splits is None
    assert bundle.info["num_classes"] == 3
    graphs, labels = bundle.evaluation.collate([bundle.evaluation.dataset[i] for i in range(5)])
    assert graphs.num_graphs == 5 and labels.tolist() == small_graph.y[:5].tolist()


def test_registered_dataset_builds_from_a_node_level_source() -> None:
    bundle = build_dataset("ego_networks", None, {"source": "karate", "hops": 1})
    assert bundle.info["num_graphs"] == 34 and bundle.info["num_classes"] == 4


@pytest.mark.parametrize(
    ("options", "message"),
    [({"hops": 0}, "hops must be at least 1"), ({"max_nodes": 1}, "max_nodes must be at least 2")],
)
def test_bad_options_are_named(small_graph: Data, options: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ego_networks_of(small_graph, "ego", **options)


def test_unlabelled_graph_is_refused(small_graph: Data) -> None:
    del small_graph.y
    with pytest.raises(ConfigError, match="no node labels"):
        ego_networks_of(small_graph, "ego")
