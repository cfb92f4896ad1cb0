"""Context prediction (Hu et al. 2020): hop sets on graphs whose distances are known, the
neighbourhood / context / anchor bookkeeping, negatives, the loss, graph-level batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Batch, Data
from torch_geometric.utils import k_hop_subgraph, to_undirected

from sslcore.errors import ConfigError
from sslcore.testing.steps import train_steps
from sslcore_graph.datasets.graphs import collate_graphs
from sslcore_graph.encoders.gin import build_gin
from sslcore_graph.tasks.context_prediction import ContextPrediction, hop_distances, induced_subgraphs


def path_graph(n: int, num_features: int = 4) -> Data:
    """0 - 1 - ... - (n-1), both directions; x[i] = i + 1 in every column."""
    edge_index = to_undirected(torch.stack([torch.arange(n - 1), torch.arange(1, n)]))
    return Data(x=torch.arange(1.0, n + 1)[:, None].repeat(1, num_features), edge_index=edge_index)


def make(num_layers: int = 2, num_features: int = 4, **options) -> ContextPrediction:
    encoder = build_gin(
        {"num_features": num_features}, hidden_dim=8, output_dim=8, num_layers=num_layers, jk="last",
        activation="prelu",
    )  # fmt: skip
    return ContextPrediction(encoder, **options)


def members(data: Data, b: int) -> set[int]:
    return set(data.n_id[data.batch == b].tolist())


# -- hops ----------------------------------------------------------------------------------
def test_hop_distances_on_a_path_are_the_index_differences() -> None:
    graph = path_graph(9)
    centres = torch.tensor([0, 4, 8])
    dist = hop_distances(graph.edge_index, centres, 9, max_hops=9)
    expected = (torch.arange(9)[None, :] - centres[:, None]).abs()
    assert torch.equal(dist, expected)
    cut = hop_distances(graph.edge_index, centres, 9, max_hops=2)
    assert torch.equal(cut, torch.where(expected <= 2, expected, torch.full_like(expected, -1)))


def test_hop_sets_match_pyg_k_hop_subgraph_on_a_random_directed_graph() -> None:
    gen = torch.Generator().manual_seed(3)
    edge_index = torch.randint(0, 60, (2, 150), generator=gen)
    centres = torch.tensor([0, 7, 33, 59])
    dist = hop_distances(edge_index, centres, 60, max_hops=4)
    for r in range(5):
        for i, c in enumerate(centres.tolist()):
            subset = k_hop_subgraph(c, r, edge_index, num_nodes=60)[0]  # flow source_to_target
            ours = ((dist[i] >= 0) & (dist[i] <= r)).nonzero().flatten()
            assert set(ours.tolist()) == set(subset.tolist()), (r, c)


def test_induced_subgraphs_keep_exactly_the_edges_inside_each_set() -> None:
    graph = path_graph(6)
    sets = torch.zeros(2, 6, dtype=torch.bool)
    sets[0, [1, 2, 4]] = True
    sets[1, [3, 4, 5]] = True
    union, index = induced_subgraphs(graph.x, graph.edge_index, sets)
    assert union.n_id.tolist() == [1, 2, 4, 3, 4, 5] and union.batch.tolist() == [0, 0, 0, 1, 1, 1]
    edges = {(int(union.n_id[s]), int(union.n_id[t]), int(union.batch[s])) for s, t in union.edge_index.T}
    assert edges == {(1, 2, 0), (2, 1, 0), (3, 4, 1), (4, 3, 1), (4, 5, 1), (5, 4, 1)}
    assert bool((union.batch[union.edge_index[0]] == union.batch[union.edge_index[1]]).all())  # no crossing
    assert torch.equal(union.x, graph.x[union.n_id])
    assert index[1, 4] == 4 and index[0, 4] == 2 and index[0, 3] == -1


def test_neighbourhood_context_and_anchors_on_a_path() -> None:
    # K = 2 layers -> r1 = 1, r2 = 4 (the paper's defaults); centre 4 of the path 0..9
    task = make(num_layers=2)
    assert (task.num_hops, task.r1, task.r2) == (2, 1, 4)
    batch = task.build_batch(path_graph(10), torch.tensor([4, 0]))
    assert batch.drawn == 2 and len(batch.centre_rows) == 2
    assert members(batch.neighbourhoods, 0) == {2, 3, 4, 5, 6}  # d <= 2
    assert members(batch.neighbourhoods, 1) == {0, 1, 2}
    assert members(batch.contexts, 0) == {0, 1, 2, 6, 7, 8}  # 1 < d <= 4
    assert members(batch.contexts, 1) == {2, 3, 4}
    anchors = {(int(b), int(batch.contexts.n_id[r])) for b, r in zip(batch.anchor_centre, batch.anchor_rows)}
    assert anchors == {(0, 2), (0, 6), (1, 2)}  # in both: 1 < d <= 2
    assert batch.neighbourhoods.n_id[batch.centre_rows].tolist() == [4, 0]


def test_centres_without_a_context_are_left_out_and_counted() -> None:
    graph = path_graph(6)
    graph.x = torch.cat([graph.x, torch.ones(1, 4)])  # node 6: isolated
    graph.num_nodes = 7
    task = make(num_layers=2)
    batch = task.build_batch(graph, torch.tensor([6, 2, 3]))
    assert batch.drawn == 3 and batch.neighbourhoods.n_id[batch.centre_rows].tolist() == [2, 3]
    out = task(batch)
    assert out.metrics["no_context"].item() == pytest.approx(1 / 3)
    lone = task.build_batch(graph, torch.tensor([6, 2]))
    with pytest.raises(ValueError, match="only 1 of 2 centres have a context"):
        task(lone)


# -- negatives and the loss ----------------------------------------------------------------
@pytest.mark.parametrize(("count", "neg_samples"), [(2, 1), (5, 1), (7, 3)])
def test_negatives_are_other_centres_contexts(count: int, neg_samples: int) -> None:
    task = make(num_centres=max(count, neg_samples + 1), neg_samples=neg_samples)
    index = task.negative_index(count)
    assert index.shape == (neg_samples, count)
    assert bool((index != torch.arange(count)).all())  # never the centre's own context
    assert all(len(set(index[:, v].tolist())) == neg_samples for v in range(count))  # distinct ones


def test_loss_is_bce_of_own_against_other_contexts() -> None:
    task = make(neg_samples=2)
    batch = task.build_batch(path_graph(12), torch.tensor([2, 5, 8, 10]))
    task.train()
    torch.manual_seed(0)
    h, c = task.centre_and_context(batch)
    torch.manual_seed(0)
    loss = task(batch).loss
    pos = torch.stack([h[v] @ c[v] for v in range(4)])
    neg = torch.stack([h[v] @ c[(v + s) % 4] for s in (1, 2) for v in range(4)])
    expected = F.binary_cross_entropy_with_logits(
        pos, torch.ones(4)
    ) + 2 * F.binary_cross_entropy_with_logits(neg, torch.zeros(8))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # the context summary is the mean of the anchors' context-GNN states
    states = task.head(batch.contexts)
    first = batch.anchor_rows[batch.anchor_centre == 0]
    torch.testing.assert_close(c[0], states[first].mean(dim=0))


def test_centre_embedding_on_its_neighbourhood_equals_the_full_graph_one_for_gin(small_graph: Data) -> None:
    # sum aggregation: K layers only see the K-hop ball, so the cut-out changes nothing
    task = make(num_layers=2, num_features=8).eval()
    centres = torch.tensor([0, 17, 45, 89])
    batch = task.build_batch(small_graph, centres)
    with torch.no_grad():
        h_local = task.encoder(batch.neighbourhoods)[batch.centre_rows]
        h_full = task.embed(small_graph)[centres]
    torch.testing.assert_close(h_local, h_full, rtol=1e-4, atol=1e-5)


def test_training_lowers_the_loss(small_graph: Data) -> None:
    torch.manual_seed(0)
    task = make(num_layers=2, num_features=8, num_centres=16)
    fixed = task.collate([small_graph])
    losses = train_steps(lambda step: task(fixed), task, steps=40, lr=0.01)
    assert losses[-1] < 0.5 * losses[0]


# -- centres: node level, sampled subgraphs, graph level -----------------------------------
def test_node_level_centres_are_distinct_nodes_and_sampled_subgraphs_use_their_seeds(
    small_graph: Data,
) -> None:
    task = make(num_features=8, num_centres=10)
    centres = task.draw_centres(small_graph)
    assert len(centres) == len(set(centres.tolist())) == 10
    sub = Data(x=small_graph.x, edge_index=small_graph.edge_index, n_id=torch.arange(90), batch_size=12)
    assert task.draw_centres(sub).tolist() == list(range(12))


def test_graph_level_batches_get_one_centre_per_graph_and_no_hop_crosses_graphs() -> None:
    graphs = [path_graph(n) for n in (5, 7, 6)]
    task = make(per_graph=True)
    centres = task.draw_centres(collate_graphs(graphs))
    assert [int(Batch.from_data_list(graphs).batch[c]) for c in centres] == [0, 1, 2]
    batch = task.collate(graphs)
    graph_of = Batch.from_data_list(graphs).batch
    for part in (batch.neighbourhoods, batch.contexts):
        for b in range(len(batch.centre_rows)):
            assert len({int(graph_of[n]) for n in members(part, b)}) == 1
    assert torch.isfinite(task(batch).loss)
    embedded = task.embed(Batch.from_data_list(graphs))
    assert embedded.shape == (3, 8)


def test_from_data_picks_the_level_from_the_dataset() -> None:
    encoder = build_gin({"num_features": 4}, num_layers=2, jk="last")
    assert ContextPrediction.from_data(encoder, {"num_features": 4, "num_graphs": 10}).per_graph
    assert not ContextPrediction.from_data(encoder, {"num_features": 4, "num_nodes": 10}).per_graph


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"r1": 2}, "r1 must satisfy"),
        ({"r1": 1, "r2": 1}, "r2 must be larger"),
        ({"num_centres": 4, "neg_samples": 4}, "neg_samples"),
    ],
)
def test_bad_options_are_refused(options: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make(num_layers=2, **options)
