"""Invariants of the graph augmentations (sslcore_graph.augment)."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import Compose
from torch_geometric.utils import is_undirected, to_dense_adj, to_undirected

from sslcore_graph.augment import AddEdges, Diffusion, DropEdges, DropNodes, MaskFeatures, RandomWalkSubgraph


def random_graph(n: int = 400, num_edges: int = 2000, undirected: bool = True, seed: int = 0) -> Data:
    """Node ``i`` has ``x[i] = [i, ...]`` so a view's rows can be traced to the original ids."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, num_edges), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    ei = to_undirected(ei, num_nodes=n) if undirected else torch.unique(ei, dim=1)
    x = torch.cat([torch.arange(n, dtype=torch.float).unsqueeze(1), torch.randn(n, 3, generator=g)], dim=1)
    return Data(x=x, edge_index=ei, y=torch.arange(n) % 3, num_nodes=n)


def edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


ALL = [
    DropNodes(0.3, generator=0),
    DropEdges(0.3, generator=0),
    AddEdges(0.3, generator=0),
    MaskFeatures(0.3, generator=0),
    RandomWalkSubgraph(4, 10, generator=0),
]


@pytest.mark.parametrize("transform", ALL, ids=repr)
def test_the_input_graph_is_not_modified(transform) -> None:
    data = random_graph()
    before = data.clone()
    transform(data)
    for key in ("x", "edge_index", "y"):
        assert torch.equal(data[key], before[key]), key


@pytest.mark.parametrize("cls", [DropNodes, DropEdges, AddEdges, MaskFeatures])
def test_the_same_seed_gives_the_same_view_and_another_seed_another(cls) -> None:
    data = random_graph()
    a, b, c = cls(0.3, generator=1)(data), cls(0.3, generator=1)(data), cls(0.3, generator=2)(data)
    assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
    assert not (torch.equal(a.x, c.x) and torch.equal(a.edge_index, c.edge_index))


def test_a_shared_generator_advances_so_consecutive_views_differ() -> None:
    t = DropEdges(0.3, generator=0)
    data = random_graph()
    assert not torch.equal(t(data).edge_index, t(data).edge_index)


def test_drop_nodes_rate_and_relabelled_edges() -> None:
    data = random_graph(n=2000, num_edges=8000)
    view = DropNodes(0.3, generator=0)(data)
    assert abs(view.num_nodes / 2000 - 0.7) < 0.04
    ids = view.x[:, 0].long()  # original id of every kept node, in increasing order
    assert torch.equal(ids, ids.sort().values) and torch.equal(view.y, data.y[ids])
    assert view.edge_index.min() >= 0 and view.edge_index.max() < view.num_nodes
    kept = set(ids.tolist())
    induced = {(u, v) for u, v in edge_set(data.edge_index) if u in kept and v in kept}
    assert edge_set(ids[view.edge_index]) == induced  # exactly the induced subgraph
    assert is_undirected(view.edge_index, num_nodes=view.num_nodes)


def test_drop_nodes_keeps_at_least_one_node() -> None:
    view = DropNodes(1.0, generator=0)(random_graph(n=10, num_edges=20))
    assert view.num_nodes == 1 and view.x.shape[0] == 1 and view.edge_index.shape[1] == 0


@pytest.mark.parametrize("undirected", [True, False])
def test_drop_edges_rate_subset_and_direction(undirected: bool) -> None:
    data = random_graph(n=500, num_edges=6000, undirected=undirected)
    data.edge_weight = torch.arange(data.edge_index.shape[1], dtype=torch.float)
    view = DropEdges(0.4, generator=0)(data)
    assert abs(view.edge_index.shape[1] / data.edge_index.shape[1] - 0.6) < 0.03
    assert edge_set(view.edge_index) <= edge_set(data.edge_index)
    assert torch.equal(data.edge_index[:, view.edge_weight.long()], view.edge_index)  # weights follow
    assert bool(is_undirected(view.edge_index, num_nodes=500)) == undirected
    assert torch.equal(view.x, data.x)


def test_drop_edges_can_treat_an_undirected_graph_as_directed() -> None:
    data = random_graph(n=200, num_edges=2000)
    view = DropEdges(0.4, undirected=False, generator=0)(data)
    assert not is_undirected(view.edge_index, num_nodes=200)


@pytest.mark.parametrize("undirected", [True, False])
def test_add_edges_adds_new_distinct_non_loop_edges(undirected: bool) -> None:
    data = random_graph(n=300, num_edges=1500, undirected=undirected)
    data.edge_weight = torch.full((data.edge_index.shape[1],), 0.5)
    e = data.edge_index.shape[1]
    view = AddEdges(0.2, generator=0)(data)
    added = view.edge_index[:, e:]
    assert torch.equal(view.edge_index[:, :e], data.edge_index)
    assert added.shape[1] == (2 * round(0.2 * e / 2) if undirected else round(0.2 * e))
    assert not (added[0] == added[1]).any()
    assert not edge_set(added) & edge_set(data.edge_index)
    assert len(edge_set(added)) == added.shape[1]
    assert bool(is_undirected(view.edge_index, num_nodes=300)) == undirected
    assert torch.equal(view.edge_weight[e:], torch.ones(added.shape[1]))


def test_add_edges_stops_at_the_complete_graph() -> None:
    data = Data(x=torch.randn(3, 2), edge_index=to_undirected(torch.tensor([[0], [1]])))
    view = AddEdges(5.0, generator=0)(data)
    assert edge_set(view.edge_index) == {(u, v) for u in range(3) for v in range(3) if u != v}


def test_mask_features_zeroes_whole_columns_at_the_rate() -> None:
    data = Data(x=torch.rand(50, 2000) + 0.1, edge_index=torch.empty(2, 0, dtype=torch.long))
    view = MaskFeatures(0.3, generator=0)(data)
    zero = (view.x == 0).all(dim=0)
    assert torch.equal(view.x[:, ~zero], data.x[:, ~zero])  # unmasked columns untouched
    assert not (view.x[:, ~zero] == 0).any()  # nothing masked outside the masked columns
    assert abs(float(zero.float().mean()) - 0.3) < 0.04


def test_random_walk_subgraph_on_a_path_is_a_contiguous_piece() -> None:
    n = 100
    data = Data(x=torch.arange(n, dtype=torch.float).unsqueeze(1), edge_index=to_undirected(
        torch.stack([torch.arange(n - 1), torch.arange(1, n)])
    ))  # fmt: skip
    view = RandomWalkSubgraph(num_roots=1, walk_length=15, generator=3)(data)
    ids = view.x[:, 0].long()
    assert 2 <= len(ids) <= 16
    assert torch.equal(ids, torch.arange(int(ids[0]), int(ids[0]) + len(ids)))  # walked along the path
    assert view.edge_index.max() < view.num_nodes and view.edge_index.shape[1] == 2 * (len(ids) - 1)


def test_random_walk_stays_on_an_isolated_root() -> None:
    data = Data(x=torch.randn(1, 2), edge_index=torch.empty(2, 0, dtype=torch.long))
    view = RandomWalkSubgraph(num_roots=2, walk_length=5, generator=0)(data)
    assert view.num_nodes == 1


def test_transforms_compose() -> None:
    data = random_graph()
    view = Compose([DropEdges(0.5, generator=0), MaskFeatures(0.5, generator=0)])(data)
    assert view.edge_index.shape[1] < data.edge_index.shape[1] and (view.x == 0).all(dim=0).any()


def dense_diffusion(data: Data, method: str) -> torch.Tensor:
    """The diffusion by its formula (before sparsification), symmetric-normalised again."""
    n = data.num_nodes
    a = to_dense_adj(data.edge_index, max_num_nodes=n)[0] + torch.eye(n)
    d = a.sum(1).pow(-0.5)
    t = d[:, None] * a * d[None, :]
    if method == "ppr":
        s = 0.2 * torch.linalg.inv(torch.eye(n) - 0.8 * t)
    else:
        s = torch.linalg.matrix_exp(5.0 * (t - torch.eye(n)))
    d = s.sum(0).pow(-0.5)
    return d[:, None] * s * d[None, :]


@pytest.mark.parametrize("method", ["ppr", "heat"])
def test_diffusion_is_a_valid_weighted_graph_matching_the_formula(method: str) -> None:
    data = random_graph(n=40, num_edges=80)
    view = Diffusion(method, sparsification={"method": "threshold", "eps": 1e-12})(data)  # keep all
    n, w = 40, view.edge_weight
    assert view.edge_index.min() >= 0 and view.edge_index.max() < n
    assert w.shape == (view.edge_index.shape[1],) and (w > 0).all() and torch.isfinite(w).all()
    assert "edge_attr" not in view
    dense = to_dense_adj(view.edge_index, edge_attr=w, max_num_nodes=n)[0]
    torch.testing.assert_close(dense, dense_diffusion(data, method), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(dense, dense.T)  # undirected in, symmetric out
    assert (dense.diagonal() > 0).all()  # self-loops


def test_diffusion_sparsifies_to_the_average_degree() -> None:
    data = random_graph(n=200, num_edges=600)
    view = Diffusion("ppr", avg_degree=8)(data)
    assert abs(view.edge_index.shape[1] / 200 - 8) < 2
    assert is_undirected(view.edge_index, view.edge_weight, num_nodes=200)


@pytest.mark.parametrize("avg_degree", [40, 41, 1000])
def test_an_average_degree_of_the_node_count_or_more_keeps_the_dense_diffusion(avg_degree: int) -> None:
    """PyG's threshold indexes past the end of the sorted entries there: every non-zero entry
    is kept instead (two components: the pairs across them stay out)."""
    data = random_graph(n=40, num_edges=80)
    data.edge_index = data.edge_index[:, (data.edge_index < 30).all(0) | (data.edge_index >= 30).all(0)]
    view = Diffusion("ppr", avg_degree=avg_degree)(data)
    expected = dense_diffusion(data, "ppr")
    assert view.edge_index.shape[1] == int((expected > 0).sum()) < 40 * 40 and (view.edge_weight > 0).all()
    dense = to_dense_adj(view.edge_index, edge_attr=view.edge_weight, max_num_nodes=40)[0]
    torch.testing.assert_close(dense, expected, atol=1e-5, rtol=1e-4)
    assert Diffusion("ppr", avg_degree=39)(random_graph(n=40, num_edges=80)).edge_index.shape[1] < 40 * 40


def test_diffusion_rejects_an_unknown_method() -> None:
    with pytest.raises(ValueError, match="ppr"):
        Diffusion("katz")


def test_rates_outside_zero_one_are_rejected() -> None:
    for cls in (DropNodes, DropEdges, MaskFeatures):
        with pytest.raises(ValueError, match="p must be in"):
            cls(1.5)
