from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.utils import to_undirected

from sslcore.build import build_dataset
from sslcore.testing.steps import train_steps
from sslcore_graph.encoders.gin import build_gin
from sslcore_graph.subgraphs import (
    POSITIONAL_DIM,
    CSRGraph,
    gcc_visit_budget,
    laplacian_positional_features,
    rwr_visits,
    sample_subgraphs,
)
from sslcore_graph.tasks.gcc import DEGREE_DIM, NUM_FEATURES, GraphContrastiveCoding


def path_graph(n: int) -> Data:
    return Data(edge_index=to_undirected(torch.stack([torch.arange(n - 1), torch.arange(1, n)])), num_nodes=n)


def make_task(**options) -> GraphContrastiveCoding:
    defaults = dict(num_seeds=16, rw_hops=32, queue_size=64)
    # the registered gin, small: two layers of 16, both concatenated, sum readout -> [num_graphs, 32]
    encoder = build_gin({"num_features": NUM_FEATURES}, hidden_dim=16, output_dim=16, num_layers=2, norm=None)
    return GraphContrastiveCoding(encoder, **(defaults | options))


def test_restart_probability_one_keeps_every_visit_next_to_the_seed(small_graph: Data) -> None:
    csr = CSRGraph.from_data(small_graph)
    seed = int(np.argmax(csr.degree))
    (visits,) = rwr_visits(csr, np.array([seed]), 50, restart_prob=1.0, rng=np.random.default_rng(0))
    neighbours = set(csr.col[csr.rowptr[seed] : csr.rowptr[seed + 1]].tolist())
    assert len(visits) == 50  # every trace is exactly one step from the seed
    assert set(visits.tolist()) <= neighbours


def test_walks_start_at_the_seed_and_stop_at_the_visit_budget() -> None:
    csr = CSRGraph.from_data(path_graph(60))
    visits = rwr_visits(csr, np.array([0, 30]), 40, restart_prob=0.5, rng=np.random.default_rng(1))
    for seed, v in zip((0, 30), visits):
        assert len(v) >= 40  # traces are drawn until 40 visits; the last one is kept whole
        nodes = np.unique(np.concatenate([v, [seed]]))
        # on a path, walks that start at the seed cover an interval that contains it
        assert np.array_equal(nodes, np.arange(nodes.min(), nodes.max() + 1))
        assert nodes.min() <= seed <= nodes.max()


def test_gcc_visit_budget_follows_the_reference_formula() -> None:
    budget = gcc_visit_budget(np.array([0, 4, 10_000]), rw_hops=256, restart_prob=0.8)
    assert budget[0] == 256 and budget[1] == 256
    assert budget[2] == int(10_000**0.75 * np.e / (np.e - 1) / 0.8 + 0.5)


def test_the_seed_is_node_zero_of_each_subgraph(small_graph: Data) -> None:
    csr = CSRGraph.from_data(small_graph)
    seeds = np.array([5, 17, 42])
    for seed, sub in zip(seeds, sample_subgraphs(csr, seeds, 64, rng=np.random.default_rng(0))):
        assert int(sub.node_ids[0]) == seed
        assert sub.seed_flag.tolist() == [1.0] + [0.0] * (sub.num_nodes - 1)
        assert sub.num_nodes > 1 and sub.pos_enc.shape == (sub.num_nodes, POSITIONAL_DIM)
        # induced subgraph: every edge exists in the source graph, relabelled consistently
        original = set(map(tuple, small_graph.edge_index.t().tolist()))
        ids = sub.node_ids
        assert all((int(ids[a]), int(ids[b])) in original for a, b in sub.edge_index.t().tolist())
        assert torch.equal(sub.degree, torch.bincount(sub.edge_index[1], minlength=sub.num_nodes))


def test_an_isolated_seed_gives_the_seed_alone() -> None:
    graph = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=3)  # node 2 is isolated
    (sub,) = sample_subgraphs(CSRGraph.from_data(graph), np.array([2]), 256, rng=np.random.default_rng(0))
    assert sub.num_nodes == 1 and sub.edge_index.shape == (2, 0)
    assert sub.node_ids.tolist() == [2] and sub.seed_flag.tolist() == [1.0]
    assert torch.equal(sub.pos_enc, torch.zeros(1, POSITIONAL_DIM))


def test_positional_features_are_padded_laplacian_eigenvectors() -> None:
    n = 7
    ei = to_undirected(torch.stack([torch.arange(n - 1), torch.arange(1, n)])).numpy()
    pos = laplacian_positional_features(ei, n)
    k = n - 2  # the reference's k = min(n - 2, 32)
    assert pos.shape == (n, POSITIONAL_DIM)
    assert torch.equal(pos[:, k:], torch.zeros(n, POSITIONAL_DIM - k))
    assert torch.allclose(pos.norm(dim=1), torch.ones(n), atol=1e-5)  # rows L2-normalised
    # column 0 is the trivial eigenvector D^{1/2} 1 (one sign, proportional to sqrt(degree)
    # before the row normalisation); its span with the others is the k-dim eigenspace
    assert (pos[:, 0] > 0).all() or (pos[:, 0] < 0).all()
    deg = np.bincount(ei[0], minlength=n)
    a_norm = np.diag(deg**-0.5) @ np.eye(n)[ei[0]].T @ np.eye(n)[ei[1]] @ np.diag(deg**-0.5)
    values, vectors = np.linalg.eigh(np.eye(n) - a_norm)
    top = vectors[:, :k]  # eigenvectors of the k smallest Laplacian eigenvalues
    rescaled = pos[:, :k].double().numpy() * np.linalg.norm(top, axis=1, keepdims=True)
    assert np.allclose(np.abs(rescaled), np.abs(top), atol=1e-6)
    assert torch.equal(laplacian_positional_features(ei[:, :2], 2), torch.zeros(2, POSITIONAL_DIM))


def test_large_subgraphs_use_the_sparse_solver() -> None:
    gen = torch.Generator().manual_seed(0)
    n = 300
    ei = to_undirected(torch.randint(0, n, (2, 1200), generator=gen), num_nodes=n).numpy()
    ring = to_undirected(torch.stack([torch.arange(n), (torch.arange(n) + 1) % n])).numpy()
    pos = laplacian_positional_features(np.concatenate([ei, ring], axis=1), n)
    assert pos.shape == (n, POSITIONAL_DIM) and torch.isfinite(pos).all()
    assert (pos.abs().sum(0) > 0).all()  # k = 32: no padding


def test_positive_pairs_come_from_the_same_seed(small_graph: Data) -> None:
    task = make_task()
    graph_q, graph_k = task.collate([small_graph])
    assert graph_q.num_graphs == graph_k.num_graphs == 16
    seeds_q = graph_q.node_ids[graph_q.ptr[:-1]]
    seeds_k = graph_k.node_ids[graph_k.ptr[:-1]]
    assert torch.equal(seeds_q, seeds_k)
    assert not torch.equal(graph_q.node_ids, graph_k.node_ids)  # two independent walks


def test_seeds_are_never_isolated_nodes() -> None:
    graph = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=10)  # 8 isolated nodes
    task = make_task()
    seeds = task.draw_seeds([graph], np.random.default_rng(0))
    assert {v for _, v in seeds} <= {0, 1}


def test_node_features_have_the_documented_width(small_graph: Data) -> None:
    task = make_task()
    graph_q, _ = task.collate([small_graph])
    x = task.head(graph_q).x
    assert NUM_FEATURES == POSITIONAL_DIM + DEGREE_DIM + 1 == 49
    assert x.shape == (graph_q.num_nodes, NUM_FEATURES)
    assert torch.equal(x[:, -1], graph_q.seed_flag) and torch.equal(x[:, :POSITIONAL_DIM], graph_q.pos_enc)
    assert GraphContrastiveCoding.encoder_info({"num_features": 1433})["num_features"] == 49


def test_end_to_end_steps_lower_the_loss(small_graph: Data) -> None:
    task = make_task(moco=False)
    batch = task.collate([small_graph])
    losses = train_steps(lambda _: task(batch), task, 15)
    assert losses[-1] < losses[0] - 0.3


def test_momentum_steps_lower_the_loss_against_a_fixed_queue(small_graph: Data) -> None:
    task = make_task(momentum=0.9, queue_size=64)
    with torch.no_grad():  # fill the queue with keys of other subgraphs
        for _ in range(4):
            task.queue.push(task.encode(task.collate([small_graph])[1]))
    task.queue.push = lambda keys: None  # keep the negatives fixed for this check
    batch = task.collate([small_graph])
    key_before = [p.clone() for p in task.key_network.parameters()]
    losses = train_steps(lambda _: task(batch), task, 15, after_step=lambda _: task.on_train_step_end(0.0))
    assert losses[-1] < losses[0] - 0.3
    assert any(not torch.equal(a, b) for a, b in zip(key_before, task.key_network.parameters()))
    assert not any(p.requires_grad for p in task.key_network.parameters())


def test_the_step_callback_pushes_this_steps_keys_and_moves_the_key_encoder(small_graph: Data) -> None:
    task = make_task(momentum=0.5, queue_size=64)
    online = dict(task.encoder.named_parameters())
    for p in online.values():  # make the online encoder differ from its momentum copy
        p.data.add_(1.0)
    key_before = {k: p.clone() for k, p in task.key_network["encoder"].named_parameters()}
    out_keys = task(task.collate([small_graph]))
    assert out_keys is not None and task._new_keys is not None
    keys = task._new_keys.clone()
    task.on_train_step_end(0.0)
    assert torch.allclose(task.queue.negatives()[-16:], keys, atol=1e-6)
    for name, p in task.key_network["encoder"].named_parameters():
        assert torch.allclose(p, 0.5 * key_before[name] + 0.5 * online[name])
    task.eval()
    with torch.no_grad():
        task(task.collate([small_graph]))
    assert task._new_keys is None  # nothing is queued outside training


def test_embed_returns_one_row_per_node_or_per_graph(small_graph: Data) -> None:
    task = make_task().eval()
    with torch.no_grad():
        z = task.embed(small_graph)
        again = task.embed(small_graph)
        other = Data(
            x=torch.ones(5, 8), edge_index=path_graph(5).edge_index, y=torch.zeros(5, dtype=torch.long)
        )
        graphs = task.embed(Batch.from_data_list([small_graph, other]))
    assert z.shape == (small_graph.num_nodes, task.encoder.output_dim)
    assert torch.equal(z, again)  # seeded walks: reproducible embeddings
    assert torch.allclose(z.norm(dim=1), torch.ones(len(z)), atol=1e-4)
    assert graphs.shape == (2, task.encoder.output_dim)


def test_transfer_dataset_pretrains_on_other_graphs() -> None:
    with pytest.warns(UserWarning, match="both a pretraining source"):
        build_dataset("transfer", None, {"pretrain_on": ["sbm"], "evaluate_on": "sbm", "num_synthetic": 1})
    bundle = build_dataset(
        "transfer", None, {"pretrain_on": ["ba", "karate"], "evaluate_on": "sbm", "num_synthetic": 2}
    )
    assert len(bundle.pretrain) == 3 and [g.num_nodes for g in bundle.pretrain] == [1000, 1000, 34]
    assert bundle.evaluation.splits is not None and bundle.info["num_features"] == 1024  # sbm's
    task = make_task()
    graph_q, _ = task.collate(list(bundle.pretrain))  # seeds drawn across the graphs
    assert graph_q.num_graphs == 16
