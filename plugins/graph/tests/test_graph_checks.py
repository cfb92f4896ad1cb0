"""Malformed graphs fail with the problem named, in every full-graph node-level task and
in the datasets; every such task trains on exactly one graph per step."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from sslcore import get_registry
from sslcore.plugins.specs import resolve_factory
from sslcore_graph.datasets.transductive import transductive_bundle
from sslcore_graph.encoders.gcn import build_gcn

NODE_TASKS = ["dgi", "grace", "bgrl", "mvgrl", "gae", "vgae", "arga", "arvga", "attribute_masking"]


def node_task(name: str, num_features: int = 2):
    """Registered task ``name`` on a small ``gcn`` for ``num_features`` input features."""
    cls = resolve_factory(get_registry().task(name).factory)
    return cls.from_data(
        build_gcn({"num_features": num_features}, output_dim=4), {"num_features": num_features}
    )


def labelled(data: Data) -> Data:
    n = data.x.shape[0]
    data.y = torch.zeros(n, dtype=torch.long)
    for split in ("train", "val", "test"):
        setattr(data, f"{split}_mask", torch.ones(n, dtype=torch.bool))
    return data


BAD_GRAPHS = {
    "out of range": Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1], [1, 3]])),
    "out of range ": Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, -1], [1, 2]])),
    "empty": Data(x=torch.randn(0, 2), edge_index=torch.empty(2, 0, dtype=torch.long)),
    r"shape \[2, num_edges\]": Data(x=torch.randn(3, 2), edge_index=torch.tensor([[0, 1, 2]])),
    "2-D tensor.*missing_features": Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2),
}


@pytest.mark.parametrize("name", NODE_TASKS)
@pytest.mark.parametrize("problem", BAD_GRAPHS)
def test_task_rejects_a_malformed_graph_naming_the_problem(name: str, problem: str) -> None:
    task = node_task(name)
    graph = BAD_GRAPHS[problem]
    with pytest.raises(ValueError, match=f"{task.label} input graph.*{problem.strip()}"):
        task.collate([graph])
    with pytest.raises(ValueError, match=problem.strip()):
        task.embed(graph)


@pytest.mark.parametrize("name", NODE_TASKS)
def test_collate_takes_exactly_one_graph(name: str, small_graph: Data) -> None:
    task = node_task(name, num_features=8)
    batch = task.collate([small_graph])
    assert (batch[0] if name == "attribute_masking" else batch) is small_graph  # (graph, masked nodes)
    with pytest.raises(ValueError, match="one full graph"):
        task.collate([small_graph, small_graph])


@pytest.mark.parametrize("problem", ["out of range", "empty"])
def test_dataset_rejects_a_malformed_graph_naming_the_dataset(problem: str) -> None:
    with pytest.raises(ValueError, match=rf"dataset 'toy'.*{problem}"):
        transductive_bundle("toy", labelled(BAD_GRAPHS[problem].clone()))


def test_out_of_range_message_gives_the_bad_ids_and_the_node_count() -> None:
    with pytest.raises(ValueError, match=r"node ids 0\.\.3 but the graph has 3 nodes"):
        node_task("dgi").collate([BAD_GRAPHS["out of range"]])
