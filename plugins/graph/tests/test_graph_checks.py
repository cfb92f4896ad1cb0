from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from sslcore_graph.datasets.transductive import transductive_bundle
from sslcore_graph.encoders.gcn import GCNEncoder
from sslcore_graph.tasks.dgi import DeepGraphInfomax


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
    "2-D tensor": Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2),
}


@pytest.mark.parametrize("problem", BAD_GRAPHS)
def test_task_rejects_a_malformed_graph_naming_the_problem(problem: str) -> None:
    task = DeepGraphInfomax(GCNEncoder(2, output_dim=4))
    graph = BAD_GRAPHS[problem]
    with pytest.raises(ValueError, match=problem.strip()):
        task.collate([graph])
    with pytest.raises(ValueError, match=problem.strip()):
        task.embed(graph)


@pytest.mark.parametrize("problem", ["out of range", "empty"])
def test_dataset_rejects_a_malformed_graph_naming_the_dataset(problem: str) -> None:
    with pytest.raises(ValueError, match=rf"dataset 'toy'.*{problem}"):
        transductive_bundle("toy", labelled(BAD_GRAPHS[problem].clone()))


def test_out_of_range_message_gives_the_bad_ids_and_the_node_count() -> None:
    task = DeepGraphInfomax(GCNEncoder(2, output_dim=4))
    with pytest.raises(ValueError, match=r"node ids 0\.\.3 but the graph has 3 nodes"):
        task.collate([BAD_GRAPHS["out of range"]])
