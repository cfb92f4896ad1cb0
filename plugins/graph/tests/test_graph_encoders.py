"""Contract of every registered graph encoder: node-level ``forward`` ``[N, d]``,
``readout`` / ``graph_embed`` ``[G, d]``, gradients, batches, isolated nodes, no edges."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from sslcore import get_registry
from sslcore.build import build_encoder
from sslcore.encoder import check_encoder_output
from sslcore.plugins.specs import resolve_factory
from sslcore_graph.encoders.gcn import build_gcn

NUM_FEATURES = 6
#: small widths keep the tests fast; every encoder takes these options
SMALL = {"hidden_dim": 8, "output_dim": 8, "num_layers": 2}
ENCODERS = sorted(spec.name for spec in get_registry().specs("encoder", "graph").values())


def build(name: str, **options) -> torch.nn.Module:
    return build_encoder(name, {"num_features": NUM_FEATURES}, SMALL | options)


def graph(n: int, edges: list[tuple[int, int]], seed: int) -> Data:
    g = torch.Generator().manual_seed(seed)
    ei = torch.tensor(edges, dtype=torch.long).t().reshape(2, -1)
    return Data(x=torch.randn(n, NUM_FEATURES, generator=g), edge_index=torch.cat([ei, ei.flip(0)], dim=1))


@pytest.fixture
def graphs() -> list[Data]:
    """Three graphs: a path, a triangle with an isolated node, a graph without edges."""
    return [
        graph(5, [(0, 1), (1, 2), (2, 3), (3, 4)], seed=1),
        graph(4, [(0, 1), (1, 2), (2, 0)], seed=2),
        graph(3, [], seed=3),
    ]


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_node_and_graph_outputs_have_the_documented_shapes(
    name: str, num_layers: int, graphs: list[Data]
) -> None:
    encoder = build(name, num_layers=num_layers)
    batch = Batch.from_data_list(graphs)
    nodes = encoder(batch)
    check_encoder_output(encoder, nodes, batch.num_nodes)
    assert torch.isfinite(nodes).all()
    assert encoder.graph_embed(batch).shape == (3, encoder.output_dim)
    assert encoder.readout(batch, nodes).shape == (3, encoder.output_dim)
    assert encoder.graph_embed(graphs[0]).shape == (1, encoder.output_dim)  # a Data is one graph


@pytest.mark.parametrize("name", ENCODERS)
def test_every_parameter_receives_a_gradient(name: str, graphs: list[Data]) -> None:
    encoder = build(name)
    batch = Batch.from_data_list(graphs)
    out = encoder(batch)
    (out * torch.randn_like(out)).sum().backward()
    for pname, p in encoder.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: {pname}"


@pytest.mark.parametrize("name", ENCODERS)
def test_graphs_in_a_batch_do_not_mix(name: str, graphs: list[Data]) -> None:
    encoder = build(name).eval()
    batch = Batch.from_data_list(graphs)
    nodes, pooled = encoder(batch), encoder.graph_embed(batch)
    start = 0
    for i, g in enumerate(graphs):
        torch.testing.assert_close(nodes[start : start + g.num_nodes], encoder(g))
        torch.testing.assert_close(pooled[i : i + 1], encoder.graph_embed(g))
        start += g.num_nodes


@pytest.mark.parametrize("name", ENCODERS)
def test_an_isolated_node_depends_only_on_its_own_features(name: str, graphs: list[Data]) -> None:
    encoder = build(name).eval()
    g = graphs[1]  # node 3 has no edges
    other = g.clone()
    other.x[:3] = torch.randn(3, NUM_FEATURES)
    out, out_other = encoder(g), encoder(other)
    torch.testing.assert_close(out[3], out_other[3])
    assert not torch.allclose(out[:3], out_other[:3])


@pytest.mark.parametrize("name", ENCODERS)
def test_a_graph_without_edges_encodes_each_node_alone(name: str, graphs: list[Data]) -> None:
    encoder = build(name).eval()
    g = graphs[2]
    alone = torch.cat([encoder(Data(x=g.x[i : i + 1], edge_index=g.edge_index)) for i in range(g.num_nodes)])
    torch.testing.assert_close(encoder(g), alone)


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize(
    "readout, pool", [("sum", global_add_pool), ("mean", global_mean_pool), ("max", global_max_pool)]
)
def test_readout_pools_the_node_states_per_graph(name: str, readout: str, pool, graphs: list[Data]) -> None:
    encoder = build(name, readout=readout).eval()
    batch = Batch.from_data_list(graphs)
    nodes = encoder(batch)
    torch.testing.assert_close(encoder.graph_embed(batch), pool(nodes, batch.batch, size=3))


@pytest.mark.parametrize("name", ENCODERS)
def test_jumping_knowledge_cat_concatenates_every_layer(name: str, graphs: list[Data]) -> None:
    last = build(name, jk="last", num_layers=3, hidden_dim=4, output_dim=8)
    cat = build(name, jk="cat", num_layers=3, hidden_dim=4, output_dim=8)
    assert (last.output_dim, cat.output_dim) == (8, 4 + 4 + 8)
    cat.load_state_dict(last.state_dict())
    last.eval(), cat.eval()
    torch.testing.assert_close(cat(graphs[0])[:, -8:], last(graphs[0]))


@pytest.mark.parametrize("name", ENCODERS)
def test_a_graph_without_node_features_is_refused_with_the_fallback_named(name: str) -> None:
    encoder = build(name)
    with pytest.raises(ValueError, match="no node features.*missing_features"):
        encoder(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2))


@pytest.mark.parametrize("name", ENCODERS)
def test_bad_options_are_named(name: str) -> None:
    with pytest.raises(ValueError, match="readout"):
        build(name, readout="attention")
    with pytest.raises(ValueError, match="num_layers"):
        build(name, num_layers=0)
    with pytest.raises(KeyError, match="num_features"):
        build_encoder(name, {})
    factory = resolve_factory(get_registry().encoder(name).factory)
    with pytest.raises(ValueError, match="num_layers"):  # the encoder's own check, without build_encoder's
        factory({"num_features": NUM_FEATURES}, num_layers=0)


def test_gat_heads_must_divide_the_widths() -> None:
    encoder = build("gat", heads=2, hidden_dim=8, output_dim=6)
    assert encoder.convs[0].heads == 2 and encoder.output_dim == 6
    with pytest.raises(ValueError, match="divisible by heads"):
        build("gat", heads=3)


def test_gcn_reads_edge_weights_and_the_others_ignore_them(graphs: list[Data]) -> None:
    g = graphs[0]
    weighted = g.clone()
    weighted.edge_weight = torch.rand(g.edge_index.shape[1]) + 0.5
    for name in ENCODERS:
        encoder = build(name).eval()
        same = torch.allclose(encoder(g), encoder(weighted))
        assert same == (name != "gcn"), name


def test_gcn_sparse_aggregation_matches_pyg_edge_index_path_on_a_directed_graph() -> None:
    x = torch.randn(5, 3)
    edge_index = torch.tensor([[0, 0, 1, 3, 4], [1, 2, 2, 4, 0]])  # directed, 0 -> 1 etc.
    weight = torch.rand(edge_index.shape[1])
    encoder = build_gcn({"num_features": 3}, output_dim=4)
    conv, act = encoder.convs[0], encoder.acts[0]
    for data, w in (
        (Data(x=x, edge_index=edge_index), None),
        (Data(x=x, edge_index=edge_index, edge_weight=weight), weight),
    ):
        torch.testing.assert_close(encoder(data), act(conv(x, edge_index, w)))


def test_gcn_encodes_a_graph_without_edges_from_self_loops_only() -> None:
    data = Data(x=torch.randn(4, 3), edge_index=torch.empty(2, 0, dtype=torch.long))
    encoder = build_gcn({"num_features": 3}, output_dim=5)
    conv = encoder.convs[0]
    torch.testing.assert_close(encoder(data), encoder.acts[0](conv.lin(data.x) + conv.bias))


def test_gin_defaults_follow_infograph_and_graphcl() -> None:
    encoder = build_encoder("gin", {"num_features": NUM_FEATURES})
    assert (len(encoder.convs), encoder.output_dim) == (5, 160)
    assert (encoder.readout_mode, encoder.jk) == ("sum", "cat")
