from __future__ import annotations

import numpy as np
import torch
from torch_geometric.utils import is_undirected

from sslcore.build import build_dataset
from sslcore_graph.datasets.sbm import sbm_graph


def test_sbm_needs_no_root_and_has_a_disjoint_covering_split() -> None:
    bundle = build_dataset("sbm", None)
    data = bundle.pretrain[0]
    splits = bundle.evaluation.splits
    assert bundle.info["num_classes"] == 4 and bundle.info["num_features"] == data.x.shape[1]
    np.testing.assert_array_equal(np.sort(np.concatenate(list(splits.values()))), np.arange(data.num_nodes))
    np.testing.assert_array_equal(np.bincount(data.y[splits["train"]].numpy()), [20] * 4)


def test_sbm_is_reproducible_and_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a, b, c = sbm_graph(seed=5), sbm_graph(seed=5), sbm_graph(seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert not torch.equal(a.x, c.x)


def test_sbm_edges_are_undirected_and_mostly_within_a_class() -> None:
    data = sbm_graph(p_in=0.05, p_out=0.005)
    src, dst = data.edge_index
    assert is_undirected(data.edge_index)
    assert (data.y[src] == data.y[dst]).float().mean() > 0.6  # expected 0.05 / (0.05 + 3 * 0.005) = 0.77


def test_sbm_features_depend_on_the_class() -> None:
    data = sbm_graph(noise=0.5)
    means = torch.stack([data.x[data.y == c].mean(0) for c in range(4)])
    nearest_mean = torch.cdist(data.x, means).argmin(dim=1)
    assert (nearest_mean == data.y).float().mean() > 0.9


def test_karate_needs_no_root() -> None:
    bundle = build_dataset("karate", None)
    assert bundle.pretrain[0].num_nodes == 34 and bundle.info["num_classes"] == 4
    assert sum(len(v) for v in bundle.evaluation.splits.values()) == 34
