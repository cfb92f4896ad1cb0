from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from sslcore import get_registry
from sslcore.build import build_dataset, build_task
from sslcore.testing.steps import train_steps
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.tasks.attribute_masking import AttributeMasking, feature_loss_kind


def make(num_features: int = 8, **options) -> AttributeMasking:
    return AttributeMasking(build_gcn({"num_features": num_features}, output_dim=16), num_features, **options)


def binary_graph(graph: Data) -> Data:
    return Data(x=(graph.x > 0.5).float(), edge_index=graph.edge_index)


def test_about_15_percent_of_the_nodes_are_masked(small_graph: Data) -> None:
    task = make()
    graph, masked = task.collate([small_graph])
    assert graph is small_graph and masked.dtype == torch.bool
    assert int(masked.sum()) == round(0.15 * 90) == 14
    assert not torch.equal(masked, task.collate([small_graph])[1])  # a new draw every step
    assert int(make(mask_rate=0.01).draw_mask(10).sum()) == 1  # never an empty mask


def test_masked_rows_are_replaced_by_the_mask_token_before_encoding(small_graph: Data) -> None:
    task = make()
    seen = {}
    task.encoder.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0].x))
    x_before = small_graph.x.clone()
    _, masked = batch = task.collate([small_graph])
    task(batch)
    assert torch.equal(seen["x"][~masked], small_graph.x[~masked])
    assert torch.equal(seen["x"][masked], torch.zeros(int(masked.sum()), 8))  # token starts at zeros
    assert torch.equal(small_graph.x, x_before)  # the input graph is untouched


def test_the_loss_only_sees_masked_nodes(small_graph: Data) -> None:
    """Gradient of the loss w.r.t. the node embeddings is zero on every unmasked row: changing
    an unmasked node's prediction leaves the loss unchanged."""
    task = make()
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["h"] = output

    task.encoder.register_forward_hook(keep)
    _, masked = batch = task.collate([small_graph])
    task(batch).loss.backward()
    grad = captured["h"].grad
    assert torch.equal(grad[~masked], torch.zeros_like(grad[~masked]))
    assert (grad[masked].abs().sum(dim=1) > 0).all()


def test_changing_unmasked_targets_leaves_the_loss_unchanged(small_graph: Data) -> None:
    """The unmasked nodes' features still feed the encoder, so compare against a decoder
    that reads nothing from the graph: the loss is then a function of masked targets only."""
    task = make(loss="mse")
    torch.nn.init.zeros_(task.decoder.weight)
    _, masked = task.collate([small_graph])
    changed = small_graph.clone()
    changed.x = small_graph.x.clone()
    changed.x[~masked] += 5.0
    base = task((small_graph, masked)).loss
    assert torch.equal(task((changed, masked)).loss, base)
    changed.x[masked] += 1.0
    assert not torch.equal(task((changed, masked)).loss, base)


def test_loss_kind_follows_the_features(small_graph: Data) -> None:
    assert feature_loss_kind(binary_graph(small_graph).x) == "bce"
    assert feature_loss_kind(small_graph.x) == "mse"
    out = make()(make().collate([binary_graph(small_graph)]))
    assert "bce" in out.metrics
    assert "mse" in make()(make().collate([small_graph])).metrics
    with pytest.raises(ValueError, match="loss must be one of"):
        make(loss="l1")


@pytest.mark.parametrize("binary", [False, True])
def test_a_few_steps_lower_the_loss(small_graph: Data, binary: bool) -> None:
    graph = binary_graph(small_graph) if binary else small_graph
    task = make()
    generator = torch.Generator().manual_seed(0)
    fixed = [task.draw_mask(graph.num_nodes, generator) for _ in range(4)]  # rotate 4 masks
    losses = train_steps(lambda step: task((graph, fixed[step % 4])), task, 60)
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.05


def test_built_from_the_registry_with_embed_one_row_per_node() -> None:
    bundle = build_dataset("karate")
    task = build_task("attribute_masking", bundle, encoder_options={"output_dim": 12})
    spec = get_registry().task("attribute_masking")
    assert spec.signal == AttributeMasking.signal and spec.paradigm.value == "generative"
    graph = bundle.pretrain[0]
    assert task.embed(graph).shape == (34, 12)
    assert task.decoder.out_features == 34  # karate: one-hot identity features


def test_a_mask_rate_outside_zero_one_is_rejected() -> None:
    with pytest.raises(ValueError, match="mask_rate"):
        make(mask_rate=1.5)
