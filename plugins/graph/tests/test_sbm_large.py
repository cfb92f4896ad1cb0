"""The sparse SBM generator: the right edge distribution at sizes PyG's dense one cannot make."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.utils import coalesce, contains_self_loops, degree, is_undirected

from sslcore.build import build_dataset
from sslcore.errors import ConfigError
from sslcore_graph.datasets.sbm import DENSE_MAX_NODES, sbm_edge_probs, sbm_graph, sparse_sbm_edge_index


def block_counts(edge_index: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(within-block, between-block) undirected edge counts."""
    same = y[edge_index[0]] == y[edge_index[1]]
    return int(same.sum()) // 2, int((~same).sum()) // 2


def within_sigmas(observed: int, pairs: int, p: float, sigmas: float = 5.0) -> bool:
    """``observed`` is within ``sigmas`` standard deviations of Binomial(pairs, p)'s mean."""
    return abs(observed - pairs * p) <= sigmas * math.sqrt(pairs * p * (1 - p))


@pytest.fixture(scope="module")
def graph():
    # 20 blocks x 1000 nodes, well above DENSE_MAX_NODES: the sparse generator
    return sbm_graph(num_classes=20, nodes_per_class=1000, p_in=0.004, p_out=0.0002, num_features=4, seed=0)


def test_edge_counts_match_the_block_probabilities(graph):
    k, n = 20, 1000
    within, between = block_counts(graph.edge_index, graph.y)
    assert within_sigmas(within, k * n * (n - 1) // 2, 0.004)
    assert within_sigmas(between, k * (k - 1) // 2 * n * n, 0.0002)
    ratio = (within / (k * n * (n - 1) / 2)) / (between / (k * (k - 1) / 2 * n * n))
    assert 15 < ratio < 25  # p_in / p_out = 20


def test_undirected_simple_graph(graph):
    ei = graph.edge_index
    assert graph.num_nodes == 20_000 and ei.dtype == torch.long
    assert is_undirected(ei, num_nodes=graph.num_nodes)
    assert not contains_self_loops(ei)
    assert coalesce(ei, num_nodes=graph.num_nodes).size(1) == ei.size(1)  # no duplicate edges
    assert torch.equal(coalesce(ei, num_nodes=graph.num_nodes), ei)  # sorted as PyG's generator returns it


def test_edges_are_spread_uniformly_over_the_nodes(graph):
    # independent edges: degrees ~ Binomial, variance close to the mean; a biased choice of
    # which distinct pairs to keep (e.g. the lowest ids) would pile edges on some nodes
    deg = degree(graph.edge_index[0], graph.num_nodes)
    assert 0.8 < deg.var().item() / deg.mean().item() < 1.2
    first, second = deg.view(20, 2, 500).mean(dim=(0, 2))  # first vs second half of every block
    assert abs(first - second) < 5 * math.sqrt(2 * deg.mean().item() / 10_000)


def test_seeded_and_deterministic():
    kwargs = {"num_classes": 4, "nodes_per_class": 1000, "p_in": 0.01, "p_out": 0.001, "num_features": 8}
    a, b, c = sbm_graph(seed=1, **kwargs), sbm_graph(seed=1, **kwargs), sbm_graph(seed=2, **kwargs)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert not torch.equal(a.edge_index, c.edge_index)
    state = torch.get_rng_state()
    sbm_graph(seed=3, **kwargs)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is not touched


def test_dense_blocks_draw_the_complement():
    # p_in above 1/2: the non-edges are drawn; counts and simplicity still hold
    sizes, probs = [60, 60], torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    ei = sparse_sbm_edge_index(sizes, probs, seed=0)
    y = torch.arange(2).repeat_interleave(60)
    within, between = block_counts(ei, y)
    assert within_sigmas(within, 2 * 60 * 59 // 2, 0.9) and within_sigmas(between, 3600, 0.1)
    assert is_undirected(ei) and not contains_self_loops(ei)
    assert coalesce(ei, num_nodes=120).size(1) == ei.size(1)
    full = sparse_sbm_edge_index([30], torch.ones(1, 1), seed=0)
    assert full.size(1) == 30 * 29  # p = 1: every pair
    assert sparse_sbm_edge_index([30, 30], torch.zeros(2, 2), seed=0).shape == (2, 0)


def test_sparse_and_dense_generators_draw_the_same_distribution():
    kwargs = {"num_classes": 3, "nodes_per_class": 200, "p_in": 0.05, "p_out": 0.01, "num_features": 1}
    counts = {
        gen: [block_counts(sbm_graph(seed=s, generator=gen, **kwargs).edge_index, torch.arange(3).repeat_interleave(200))
              for s in range(8)]
        for gen in ("dense", "sparse")
    }  # fmt: skip
    for i, (pairs, p) in enumerate([(3 * 200 * 199 // 2, 0.05), (3 * 200 * 200, 0.01)]):
        for gen in counts:  # the mean of 8 graphs within 5 standard errors of the expectation
            mean = sum(c[i] for c in counts[gen]) / 8
            assert abs(mean - pairs * p) < 5 * math.sqrt(pairs * p * (1 - p) / 8), gen


def test_auto_keeps_the_dense_generator_for_small_graphs():
    small = {"num_classes": 4, "nodes_per_class": DENSE_MAX_NODES // 4, "num_features": 2}
    assert torch.equal(sbm_graph(**small).edge_index, sbm_graph(generator="dense", **small).edge_index)
    big = small | {"nodes_per_class": DENSE_MAX_NODES // 4 + 1}
    assert torch.equal(sbm_graph(**big).edge_index, sbm_graph(generator="sparse", **big).edge_index)
    with pytest.raises(ConfigError, match="generator"):
        sbm_graph(generator="fast")


def test_avg_degree_sets_the_degree_and_keeps_the_ratio():
    p_in, p_out = sbm_edge_probs(10, 1000, 0.05, 0.005, avg_degree=8)
    assert p_in / p_out == pytest.approx(10)
    assert p_in * 999 + p_out * 9000 == pytest.approx(8)
    assert sbm_edge_probs(10, 1000, 0.05, 0.005) == (0.05, 0.005)
    g = sbm_graph(num_classes=10, nodes_per_class=1000, avg_degree=8, num_features=2, seed=0)
    assert g.num_edges / g.num_nodes == pytest.approx(8, abs=0.15)
    with pytest.raises(ConfigError, match="too high"):
        sbm_edge_probs(2, 10, 0.5, 0.05, avg_degree=50)
    with pytest.raises(ConfigError, match="p_in or p_out"):
        sbm_edge_probs(2, 10, 0.0, 0.0, avg_degree=5)


def test_moderately_large_graph():
    g = sbm_graph(num_classes=10, nodes_per_class=20_000, avg_degree=10, num_features=16, seed=0)
    assert g.num_nodes == 200_000 and g.x.shape == (200_000, 16) and g.x.dtype == torch.float32
    assert g.num_edges == pytest.approx(2_000_000, rel=0.01)
    assert torch.equal(g.y.bincount(), torch.full((10,), 20_000))
    assert int(g.edge_index.max()) < 200_000
    # features: class means plus noise (noise 8 by default)
    assert g.x.std().item() == pytest.approx(8.0, rel=0.05)


def test_dataset_options_size_the_graph():
    bundle = build_dataset(
        "sbm", None, {"num_classes": 5, "nodes_per_class": 1000, "avg_degree": 6, "num_features": 8}
    )
    graph = bundle.pretrain[0]
    assert graph.num_nodes == 5000 and graph.num_edges / 5000 == pytest.approx(6, abs=0.3)
    assert bundle.info["num_nodes"] == 5000
