from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from sslcore.build import build_dataset, build_task
from sslcore.evaluation import extract_embeddings, get_protocol
from sslcore.testing.steps import train_steps
from sslcore_graph.datasets.transductive import transductive_bundle
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.link_split import LINK_SPLIT_KEYS, held_out_edge_split
from sslcore_graph.tasks.autoencoders import GraphAutoEncoder, VariationalGraphAutoEncoder

TASKS = {"gae": GraphAutoEncoder, "vgae": VariationalGraphAutoEncoder}


def make(cls: type, **options) -> GraphAutoEncoder:
    return cls(build_gcn({"num_features": 8}, output_dim=32), latent_dim=16, **options)


def train(task: GraphAutoEncoder, graph: Data, steps: int, lr: float = 0.01) -> list[float]:
    return train_steps(lambda _: task(task.collate([graph])), task, steps, lr)


def edge_set(edge_index: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, edge_index.t().tolist()))


@pytest.mark.parametrize(
    ("name", "reconstruction", "steps"),
    [("gae", "sampled", 40), ("vgae", "sampled", 40), ("gae", "dense", 30)],
)
def test_a_few_steps_lower_the_loss(name: str, reconstruction: str, steps: int, small_graph: Data) -> None:
    losses = train(make(TASKS[name], reconstruction=reconstruction), small_graph, steps=steps)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.1


@pytest.mark.parametrize("name", TASKS)
def test_embed_returns_the_latent_mean_per_node(name: str, small_graph: Data) -> None:
    task = make(TASKS[name]).eval()
    z = task.embed(small_graph)
    assert z.shape == (small_graph.num_nodes, 16) and task.encoder.output_dim == 16
    torch.testing.assert_close(z, task.encoder.distribution(small_graph)[0])
    torch.testing.assert_close(task.embed(small_graph), z)  # deterministic at evaluation


def test_vgae_samples_in_training_and_adds_the_kl_term_over_n(small_graph: Data) -> None:
    task = make(VariationalGraphAutoEncoder).train()
    z1, kl = task.encode(small_graph)
    z2, _ = task.encode(small_graph)
    assert not torch.equal(z1, z2)  # reparametrised samples
    mu, logstd = task.encoder.distribution(small_graph)
    expected = -0.5 * torch.mean(torch.sum(1 + 2 * logstd - mu**2 - logstd.exp() ** 2, dim=1))
    torch.testing.assert_close(kl, expected / small_graph.num_nodes)
    assert float(make(GraphAutoEncoder).encode(small_graph)[1]) == 0.0


def test_trained_gae_ranks_held_out_edges_above_non_edges(small_graph: Data) -> None:
    train_graph, pairs = held_out_edge_split(small_graph, seed=0)
    task = make(GraphAutoEncoder)
    torch.manual_seed(0)
    train(task, train_graph, steps=100)
    with torch.no_grad():
        z = task.eval().embed(train_graph).numpy()
    result = get_protocol("link")(z, None, pairs)
    assert result.test_auc > 0.75  # the SBM's held-out edges are mostly within a block


def test_the_link_split_never_trains_on_held_out_edges(small_graph: Data) -> None:
    train_graph, pairs = held_out_edge_split(small_graph, seed=0)
    assert set(pairs) == set(LINK_SPLIT_KEYS)
    training = edge_set(train_graph.edge_index)
    num_edges = small_graph.edge_index.shape[1] // 2
    for key in ("link_val", "link_test"):
        held_out = {tuple(p) for p in pairs[key].T.tolist()}
        assert held_out and not held_out & training
        assert not {(b, a) for a, b in held_out} & training  # neither direction
    assert pairs["link_test"].shape[1] == int(0.10 * num_edges)
    assert pairs["link_val"].shape[1] == int(0.05 * num_edges)
    assert pairs["link_test_negative"].shape == pairs["link_test"].shape
    every_edge = edge_set(small_graph.edge_index)
    assert not {tuple(p) for p in pairs["link_test_negative"].T.tolist()} & every_edge
    num_held_out = pairs["link_val"].shape[1] + pairs["link_test"].shape[1]
    assert training <= every_edge and len(training) == 2 * (num_edges - num_held_out)  # both directions
    again, pairs_again = held_out_edge_split(small_graph, seed=0)  # same seed, same split
    assert torch.equal(again.edge_index, train_graph.edge_index)
    assert all((pairs[k] == pairs_again[k]).all() for k in pairs)


def test_a_link_split_dataset_pretrains_and_embeds_without_held_out_edges() -> None:
    bundle = build_dataset("sbm", None, {"link_split": True, "num_features": 16, "nodes_per_class": 30})
    plain = build_dataset("sbm", None, {"num_features": 16, "nodes_per_class": 30})
    (graph,) = bundle.pretrain
    ((eval_graph, _),) = bundle.evaluation.dataset
    assert eval_graph is graph  # embedded for evaluation on the training edges too
    assert graph.edge_index.shape[1] < plain.pretrain[0].edge_index.shape[1]
    held_out = {tuple(p) for p in bundle.evaluation.splits["link_test"].T.tolist()}
    assert held_out <= edge_set(plain.pretrain[0].edge_index)
    assert not held_out & edge_set(graph.edge_index)
    assert "link_test" not in plain.evaluation.splits
    task = build_task("vgae", bundle, encoder_options={"output_dim": 8})
    X, y = extract_embeddings(task, bundle.evaluation)
    assert X.shape == (120, 16)
    result = get_protocol("link")(X, y, bundle.evaluation.splits)
    assert 0.0 <= result.test_auc <= 1.0 and result.num_test == 2 * len(held_out)


def test_an_unlabelled_graph_trains_but_cannot_become_a_node_classification_dataset(
    small_graph: Data,
) -> None:
    unlabelled = Data(x=small_graph.x, edge_index=small_graph.edge_index)
    assert len(train(make(GraphAutoEncoder), unlabelled, steps=2)) == 2  # GAE needs no labels
    with pytest.raises(ValueError, match="dataset 'toy'.*no node labels"):
        transductive_bundle("toy", unlabelled)


def test_a_graph_without_edges_is_rejected_with_the_problem_named() -> None:
    """(Malformed graphs: test_graph_checks.py, for every node-level task.)"""
    graph = Data(x=torch.randn(3, 8), edge_index=torch.empty(2, 0, dtype=torch.long))
    task = make(VariationalGraphAutoEncoder)
    with pytest.raises(ValueError, match="no edges"):
        task(task.collate([graph]))
    with pytest.raises(ValueError, match="no edges"):
        held_out_edge_split(graph)


def test_dense_reconstruction_is_the_papers_weighted_bce() -> None:
    task = GraphAutoEncoder(
        build_gcn({"num_features": 2}, output_dim=4), latent_dim=2, reconstruction="dense"
    )
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    edge_index = torch.tensor([[0, 1], [1, 0]])  # one undirected edge; targets A + I: 5 of 9 pairs
    logits = z @ z.t()
    target = torch.tensor([[1.0, 1, 0], [1, 1, 0], [0, 0, 1]])
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    bce = -(0.8 * target * log_p + (1 - target) * log_not_p)  # pos_weight = 4 negatives / 5 positives
    expected = 9 / (2 * 4) * bce.mean()  # norm = N^2 / (2 * negatives)
    torch.testing.assert_close(task.reconstruction_loss(z, edge_index), expected)
    with pytest.raises(ValueError, match="reconstruction must be one of"):
        GraphAutoEncoder(build_gcn({"num_features": 2}, output_dim=4), reconstruction="full")
