from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from sslcore.testing.steps import train_steps
from sslcore_graph.corruption import shuffle_node_features
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.tasks.dgi import DeepGraphInfomax


def make_task(num_features: int = 8, dim: int = 32) -> DeepGraphInfomax:
    return DeepGraphInfomax(build_gcn({"num_features": num_features}, output_dim=dim))


def train(task: DeepGraphInfomax, graph: Data, steps: int, lr: float = 0.01) -> list[float]:
    return train_steps(lambda _: task(task.collate([graph])), task, steps, lr)


def test_corruption_permutes_feature_rows_and_keeps_edges(small_graph: Data) -> None:
    x_before = small_graph.x.clone()
    corrupted = shuffle_node_features(small_graph, torch.Generator().manual_seed(3))
    assert not torch.equal(corrupted.x, small_graph.x)
    rows, counts = torch.unique(small_graph.x, dim=0, return_counts=True)
    shuffled_rows, shuffled_counts = torch.unique(corrupted.x, dim=0, return_counts=True)
    assert torch.equal(rows, shuffled_rows) and torch.equal(counts, shuffled_counts)  # same multiset
    assert corrupted.edge_index is small_graph.edge_index
    assert torch.equal(small_graph.x, x_before)  # the input graph is not modified


def test_a_few_steps_lower_the_loss(small_graph: Data) -> None:
    losses = train(make_task(), small_graph, steps=30)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.1


def test_trained_discriminator_scores_real_nodes_above_corrupted(small_graph: Data) -> None:
    task = make_task()
    train(task, small_graph, steps=150)
    task.eval()
    with torch.no_grad():
        h = task.encoder(small_graph)
        s = task.summary(h)
        real = task.discriminate(h, s)
        fake = task.discriminate(task.encoder(shuffle_node_features(small_graph)), s)
    assert real.mean() > fake.mean()
    assert (real > 0).float().mean() > 0.75 and (fake < 0).float().mean() > 0.75


def test_loss_is_log2_when_the_discriminator_is_blind(small_graph: Data) -> None:
    task = make_task()
    torch.nn.init.zeros_(task.head.weight)  # D(h, s) = 0 for every node
    assert float(task(small_graph).loss.detach()) == pytest.approx(
        torch.log(torch.tensor(2.0)).item(), abs=1e-6
    )


def test_loss_and_accuracy_equal_the_inline_bce_of_the_paper(small_graph: Data) -> None:
    """DGI's loss is the core's ``bce_mi``: the same value as ``BCEWithLogits`` over the
    positive (label 1) and corrupted (label 0) logits, as DGI wrote it before."""
    task = make_task()
    torch.manual_seed(5)
    out = task(small_graph)
    torch.manual_seed(5)  # the same corruption
    h, h_corrupted = task.encoder(small_graph), task.encoder(shuffle_node_features(small_graph))
    s = task.summary(h)
    logits = torch.cat([task.discriminate(h, s), task.discriminate(h_corrupted, s)])
    labels = torch.cat([torch.ones(small_graph.num_nodes), torch.zeros(small_graph.num_nodes)])
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(logits, labels))
    assert torch.equal(out.metrics["disc_acc"], ((logits > 0) == labels.bool()).float().mean())
    # gradients too (through the encoder and the discriminator)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, labels).backward()
    inline = [p.grad.clone() for p in task.parameters()]
    task.zero_grad()
    out.loss.backward()
    for mine, theirs in zip((p.grad for p in task.parameters()), inline):
        torch.testing.assert_close(mine, theirs)


def test_embed_returns_the_encoder_node_embeddings(small_graph: Data) -> None:
    task = make_task(dim=16)
    z = task.embed(small_graph)
    assert z.shape == (small_graph.num_nodes, 16)
    torch.testing.assert_close(z, task.encoder(small_graph))
