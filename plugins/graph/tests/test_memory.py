"""The full-batch memory estimate and check (sslcore_graph.memory)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sslcore.build import build_dataset, build_task
from sslcore.errors import ConfigError
from sslcore_graph import memory
from sslcore_graph.memory import (
    available_memory_bytes,
    check_full_batch_fits,
    encoder_layer_widths,
    estimate_full_batch_bytes,
)

GIB = 2**30


def fake_graph(num_nodes: int, num_edges: int, num_features: int) -> SimpleNamespace:
    """A stand-in with the sizes the check reads and no tensors."""
    return SimpleNamespace(num_nodes=num_nodes, num_edges=num_edges, num_features=num_features)


@pytest.fixture(scope="module")
def bundle():
    return build_dataset("sbm", None, {"num_features": 16, "nodes_per_class": 20})


def encoder_of(bundle, task: str = "dgi", encoder: str | None = None, **options):
    return build_task(task, bundle, encoder, encoder_options=options).encoder


@pytest.mark.parametrize(
    "bigger",
    [
        {"num_nodes": 20_000},
        {"num_edges": 2_000_000},
        {"num_features": 1024},
        {"widths": [1024]},
        {"message_widths": [256]},
        {"passes": 4},
    ],
)
def test_estimate_grows_with_every_size(bigger):
    base = {"num_nodes": 10_000, "num_edges": 100_000, "num_features": 128, "widths": [512],
            "message_widths": [128], "passes": 2}  # fmt: skip
    assert estimate_full_batch_bytes(**(base | bigger)) > estimate_full_batch_bytes(**base)


def test_estimate_counts_every_layer():
    one = estimate_full_batch_bytes(10_000, 100_000, 128, [256])
    two = estimate_full_batch_bytes(10_000, 100_000, 128, [256, 256])
    assert two > one


def test_estimate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="passes"):
        estimate_full_batch_bytes(10, 10, 4, [8], passes=0)
    with pytest.raises(ValueError, match="differ in length"):
        estimate_full_batch_bytes(10, 10, 4, [8, 8], [8])


def test_layer_widths_of_the_encoders(bundle):
    widths, messages = encoder_layer_widths(encoder_of(bundle, num_layers=2, hidden_dim=64, output_dim=32))
    assert widths == [64, 32] and messages == [0, 0]  # gcn aggregates with a sparse matmul
    widths, messages = encoder_layer_widths(encoder_of(bundle, encoder="sage", hidden_dim=64, output_dim=32))
    assert widths == [64, 32] and messages == [64, 64]  # max(in, out) per layer, in = 16 features
    gat = encoder_of(bundle, encoder="gat", hidden_dim=8, output_dim=8, heads=4)
    widths, _ = encoder_layer_widths(gat)
    assert widths[0] == gat.convs[0].out_channels * 4  # heads concatenated
    widths, _ = encoder_layer_widths(encoder_of(bundle, num_layers=2, hidden_dim=8, output_dim=4, jk="cat"))
    assert widths[-1] == 12  # the concatenated output


def test_huge_graph_raises_naming_estimate_memory_and_fix(bundle):
    graph = fake_graph(2_000_000, 22_000_000, 128)
    with pytest.raises(ConfigError) as err:
        check_full_batch_fits(graph, encoder_of(bundle), "DGI", available=16 * GIB)
    message = str(err.value)
    assert "DGI" in message and "2,000,000 nodes" in message and "22,000,000 edges" in message
    assert "16.0 GiB" in message and "--dataset-opt batch_nodes=1024" in message
    needed = float(message.split("needs about ")[1].split(" GiB")[0])
    assert needed > 16


def test_check_uses_the_available_memory(bundle, monkeypatch):
    graph, encoder = fake_graph(200_000, 2_000_000, 128), encoder_of(bundle)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 64 * GIB)
    check_full_batch_fits(graph, encoder, "DGI")
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: GIB // 2)
    with pytest.raises(ConfigError, match="0.5 GiB"):
        check_full_batch_fits(graph, encoder, "DGI")
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: None)  # unknown: no check
    check_full_batch_fits(graph, encoder, "DGI")


def test_more_passes_for_multi_view_tasks(bundle):
    graph, encoder = fake_graph(100_000, 1_000_000, 128), encoder_of(bundle)
    needed_dgi = estimate_full_batch_bytes(100_000, 1_000_000, 128, [512], passes=2)
    available = int(needed_dgi / memory.USABLE_FRACTION) + 1
    check_full_batch_fits(graph, encoder, "DGI", available=available)
    with pytest.raises(ConfigError, match="4 encoder passes"):
        check_full_batch_fits(graph, encoder, "GRACE", available=available)


@pytest.mark.parametrize(
    ("nodes", "edges", "features"),
    [(2708, 10556, 1433), (3327, 9104, 3703), (19717, 88648, 500)],  # Cora, CiteSeer, PubMed
)
@pytest.mark.parametrize("task", ["dgi", "grace", "mvgrl"])
def test_planetoid_sized_graphs_fit_in_two_gib(nodes, edges, features, task):
    bundle = build_dataset("sbm", None, {"num_features": features, "nodes_per_class": 5})
    model = build_task(task, bundle)
    check_full_batch_fits(fake_graph(nodes, edges, features), model.encoder, model.label, available=2 * GIB)


def test_a_graph_that_fits_is_checked_once(bundle, monkeypatch):
    graph, task = bundle.pretrain[0], build_task("dgi", bundle)
    check_full_batch_fits(graph, task.encoder, task.label)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 1)
    check_full_batch_fits(graph, task.encoder, task.label)  # cached: not refused on a later step
    other = build_task("dgi", bundle)
    with pytest.raises(ConfigError):  # another encoder is checked
        check_full_batch_fits(graph, other.encoder, other.label)


def test_full_graph_collate_refuses_a_graph_that_does_not_fit(monkeypatch):
    bundle = build_dataset("sbm", None, {"num_features": 16, "nodes_per_class": 20, "seed": 3})
    task = build_task("dgi", bundle)
    monkeypatch.setattr(memory, "available_memory_bytes", lambda: 1024)
    with pytest.raises(ConfigError, match="batch_nodes=1024"):
        task.collate(bundle.pretrain)


def test_available_memory_takes_the_lower_cgroup_limit(tmp_path, monkeypatch):
    system = available_memory_bytes()
    assert system is not None and system > 0
    monkeypatch.setattr(memory, "CGROUP", tmp_path)
    (tmp_path / "memory.max").write_text("max\n")
    (tmp_path / "memory.current").write_text("1000\n")
    assert available_memory_bytes() >= min(system, 2**40) // 2  # no limit: the system's figure
    (tmp_path / "memory.max").write_text(f"{5 * 2**20}\n")
    (tmp_path / "memory.current").write_text(f"{2**20}\n")
    assert available_memory_bytes() == 4 * 2**20
