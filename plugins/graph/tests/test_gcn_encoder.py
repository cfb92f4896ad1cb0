from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from sslcore.encoder import check_encoder_output
from sslcore_graph.encoders.gcn import GCNEncoder, build_gcn


def test_output_has_one_row_of_output_dim_per_node(small_graph: Data) -> None:
    for num_layers in (1, 2):
        encoder = build_gcn({"num_features": 8}, hidden_dim=16, output_dim=12, num_layers=num_layers)
        out = encoder(small_graph)
        check_encoder_output(encoder, out, small_graph.num_nodes)
        assert out.shape == (small_graph.num_nodes, 12)


def test_every_parameter_receives_a_gradient(small_graph: Data) -> None:
    encoder = GCNEncoder(8, hidden_dim=16, output_dim=12, num_layers=2)
    encoder(small_graph).pow(2).sum().backward()
    for name, p in encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_sparse_aggregation_matches_pyg_edge_index_path_on_a_directed_graph() -> None:
    x = torch.randn(5, 3)
    edge_index = torch.tensor([[0, 0, 1, 3, 4], [1, 2, 2, 4, 0]])  # directed, 0 -> 1 etc.
    weight = torch.rand(edge_index.shape[1])
    encoder = GCNEncoder(3, output_dim=4)
    conv, act = encoder.convs[0], encoder.acts[0]
    for data, w in (
        (Data(x=x, edge_index=edge_index), None),
        (Data(x=x, edge_index=edge_index, edge_weight=weight), weight),
    ):
        torch.testing.assert_close(encoder(data), act(conv(x, edge_index, w)))


def test_graphs_in_a_batch_do_not_mix(small_graph: Data) -> None:
    other = Data(
        x=torch.randn(7, 8),
        edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]),
        y=torch.zeros(7, dtype=torch.long),
    )
    encoder = GCNEncoder(8, output_dim=6)
    batched = encoder(Batch.from_data_list([small_graph, other]))
    torch.testing.assert_close(batched[: small_graph.num_nodes], encoder(small_graph))
    torch.testing.assert_close(batched[small_graph.num_nodes :], encoder(other))


def test_a_graph_without_edges_is_encoded_from_self_loops_only() -> None:
    data = Data(x=torch.randn(4, 3), edge_index=torch.empty(2, 0, dtype=torch.long))
    encoder = GCNEncoder(3, output_dim=5)
    conv = encoder.convs[0]
    torch.testing.assert_close(encoder(data), encoder.acts[0](conv.lin(data.x) + conv.bias))


def test_missing_num_features_is_named() -> None:
    with pytest.raises(KeyError, match="num_features"):
        build_gcn({"in_channels": 3})


def test_zero_layers_is_rejected() -> None:
    with pytest.raises(ValueError, match="num_layers"):
        GCNEncoder(3, num_layers=0)
