"""GraphMAE: mask bookkeeping, re-masking, the scaled cosine error on masked nodes only,
sampled subgraphs (seed nodes only), training, and the GAT encoder's new options."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.nn import GATConv

from sslcore.testing.steps import train_steps
from sslcore_graph.encoders.gat import GATLayer, build_gat
from sslcore_graph.encoders.message_passing import GraphEncoder
from sslcore_graph.tasks.graphmae import GraphMAE, MaskedGraph


def make(num_features: int = 8, encoder_options: dict | None = None, **options) -> GraphMAE:
    encoder = build_gat(
        {"num_features": num_features}, **{"hidden_dim": 16, "output_dim": 16, **(encoder_options or {})}
    )
    return GraphMAE(encoder, num_features, **options)


def sce(z: torch.Tensor, x: torch.Tensor, gamma: float) -> torch.Tensor:
    """The paper's formula, one row at a time (a zero row, e.g. a node whose whole
    neighbourhood is masked, has cosine 0: norms floored at 1e-8 as F.cosine_similarity)."""
    eps = 1e-8
    rows = [
        (1 - torch.dot(zi, xi) / (zi.norm().clamp_min(eps) * xi.norm().clamp_min(eps))) ** gamma
        for zi, xi in zip(z, x)
    ]
    return torch.stack(rows).mean()


# -- mask bookkeeping ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mask_rate", "replace_rate", "keep_rate"), [(0.5, 0.05, 0.0), (0.3, 0.2, 0.1), (0.5, 0.0, 0.0)]
)
def test_mask_counts_and_the_token_replace_keep_split(
    mask_rate: float, replace_rate: float, keep_rate: float
) -> None:
    task = make(mask_rate=mask_rate, replace_rate=replace_rate, keep_rate=keep_rate)
    mask = task.draw_mask(200)
    count = round(mask_rate * 200)
    assert len(mask.masked) == len(set(mask.masked.tolist())) == count
    assert len(mask.replaced) == round(replace_rate * count) == len(mask.sources)
    assert len(mask.kept) == round(keep_rate * count)
    parts = [set(p.tolist()) for p in (mask.token, mask.replaced, mask.kept)]
    assert set().union(*parts) == set(mask.masked.tolist())  # the three parts cover the masked nodes...
    assert sum(map(len, parts)) == count  # ... and are disjoint
    assert len(set(mask.sources.tolist())) == len(mask.sources) and all(
        0 <= s < 200 for s in mask.sources.tolist()
    )
    assert not torch.equal(mask.masked, task.draw_mask(200).masked)  # a new draw every step
    assert len(make(mask_rate=0.01).draw_mask(10).masked) == 1  # never an empty mask


def test_the_encoder_sees_the_token_the_sources_features_and_the_rest_unchanged(small_graph: Data) -> None:
    task = make(mask_rate=0.5, replace_rate=0.2, keep_rate=0.1)
    with torch.no_grad():
        task.mask_token.copy_(torch.arange(8.0) + 100)
    seen = {}
    task.encoder.register_forward_hook(lambda module, inputs, output: seen.update(x=inputs[0].x))
    x_before = small_graph.x.clone()
    graph, mask = batch = task.collate([small_graph])
    task(batch)
    x = seen["x"]
    assert torch.equal(x[mask.token], task.mask_token.detach().expand(len(mask.token), -1))
    assert torch.equal(x[mask.replaced], small_graph.x[mask.sources])
    untouched = torch.ones(90, dtype=torch.bool)
    untouched[mask.token] = untouched[mask.replaced] = False
    assert torch.equal(x[untouched], small_graph.x[untouched])  # kept and unmasked nodes
    assert len(mask.kept) > 0 and bool(untouched[mask.kept].all())
    assert torch.equal(small_graph.x, x_before)  # the input graph is untouched


def test_the_decoder_input_is_re_masked(small_graph: Data) -> None:
    task = make()
    seen = {}
    task.decoder.register_forward_pre_hook(lambda module, inputs: seen.update(rep=inputs[0]))
    _, mask = batch = task.collate([small_graph])
    task(batch)
    unmasked = torch.ones(90, dtype=torch.bool)
    unmasked[mask.masked] = False
    assert torch.equal(seen["rep"][mask.masked], torch.zeros(len(mask.masked), 16))
    assert bool((seen["rep"][unmasked].abs().sum(dim=1) > 0).all())


@pytest.mark.parametrize("gamma", [1.0, 3.0])
def test_loss_is_the_scaled_cosine_error_of_the_masked_nodes_only(small_graph: Data, gamma: float) -> None:
    task = make(gamma=gamma).eval()  # no dropout: the decoder output can be recomputed
    seen = {}

    def keep(module, inputs, output):
        output.retain_grad()
        seen["z"] = output

    task.decoder.register_forward_hook(keep)
    _, mask = batch = task.collate([small_graph])
    out = task(batch)
    z = seen["z"]
    expected = sce(z[mask.masked], small_graph.x[mask.masked], gamma)
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    out.loss.backward()
    rows = z.grad.abs().sum(dim=1)
    unmasked = torch.ones(90, dtype=torch.bool)
    unmasked[mask.masked] = False
    assert bool((rows[unmasked] == 0).all()) and bool((rows[mask.masked] > 0).all())
    assert task.mask_token.grad is not None and task.mask_token.grad.abs().sum() > 0


def test_a_sampled_subgraph_masks_and_scores_its_seed_nodes_only(small_graph: Data) -> None:
    sub = Data(x=small_graph.x, edge_index=small_graph.edge_index, n_id=torch.arange(90), batch_size=20)
    task = make(mask_rate=0.5, replace_rate=0.2)
    graph, mask = task.collate([sub])
    assert len(mask.masked) == 10 and int(mask.masked.max()) < 20  # half of the 20 seeds
    assert int(mask.sources.max()) < 90  # sources: any node of the subgraph
    seen = {}

    def keep(module, inputs, output):
        output.retain_grad()
        seen["z"] = output

    task.decoder.register_forward_hook(keep)
    task(MaskedGraph(graph, mask)).loss.backward()
    scored = (seen["z"].grad.abs().sum(dim=1) > 0).nonzero().flatten()
    assert set(scored.tolist()) == set(mask.masked.tolist())


@pytest.mark.parametrize("decoder", ["gat", "gcn"])
def test_training_lowers_the_loss(small_graph: Data, decoder: str) -> None:
    torch.manual_seed(0)
    task = make(decoder=decoder, encoder_options={"input_dropout": 0.2, "attention_dropout": 0.1})
    fixed = task.collate([small_graph])  # one mask: the loss of the same batch must fall
    losses = train_steps(lambda step: task(fixed), task, steps=30, lr=0.01)
    assert losses[-1] < 0.5 * losses[0]


def test_embed_encodes_the_unmasked_graph(small_graph: Data) -> None:
    task = make().eval()
    with torch.no_grad():
        assert torch.equal(task.embed(small_graph), task.encoder(small_graph))
    assert task.embed(small_graph).shape == (90, 16)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"mask_rate": 0.0}, "mask_rate"),
        ({"replace_rate": 0.6, "keep_rate": 0.5}, "replace_rate"),
        ({"gamma": 0.5}, "gamma"),
        ({"decoder": "mlp"}, "decoder"),
    ],
)
def test_bad_options_are_refused(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(**options)


# -- the GAT encoder's new options ---------------------------------------------------------
def test_gat_defaults_are_plain_gatconv_layers(small_graph: Data) -> None:
    ours = build_gat({"num_features": 8}, hidden_dim=16, output_dim=16, heads=4)
    plain = GraphEncoder(
        lambda i, o: GATConv(i, o // 4, heads=4, concat=True), 8, 16, 16, 2, "elu", None, 0.0, "last", "mean"
    )
    plain.load_state_dict(ours.state_dict())  # same parameters, same names
    ours.train(), plain.train()
    assert torch.equal(ours(small_graph), plain(small_graph))


def test_gat_input_dropout_drops_each_layers_input_in_training_only(small_graph: Data) -> None:
    encoder = build_gat({"num_features": 8}, hidden_dim=16, output_dim=16, input_dropout=0.5)
    assert all(isinstance(conv, GATLayer) and conv.input_dropout == 0.5 for conv in encoder.convs)
    encoder.train()
    torch.manual_seed(0)
    train_a = encoder(small_graph)
    torch.manual_seed(1)
    train_b = encoder(small_graph)
    assert not torch.equal(train_a, train_b)  # random
    encoder.eval()
    assert torch.equal(encoder(small_graph), encoder(small_graph))
    plain = build_gat({"num_features": 8}, hidden_dim=16, output_dim=16)
    plain.load_state_dict(encoder.state_dict())
    plain.eval()
    assert torch.equal(encoder(small_graph), plain(small_graph))  # no dropout at evaluation


def test_gat_residual_and_negative_slope_reach_the_layers() -> None:
    encoder = build_gat({"num_features": 8}, hidden_dim=16, output_dim=16, residual=True, negative_slope=0.1)
    assert all(conv.res is not None and conv.negative_slope == 0.1 for conv in encoder.convs)
    with pytest.raises(ValueError, match="input_dropout"):
        build_gat({"num_features": 8}, input_dropout=1.0)


def xavier_std(tensor: torch.Tensor, gain: float) -> float:
    """``xavier_normal_``'s standard deviation for ``tensor``'s fans (PyTorch's convention)."""
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(tensor)
    return gain * (2.0 / (fan_in + fan_out)) ** 0.5


def pyg_glorot_std(tensor: torch.Tensor) -> float:
    """PyG's ``glorot``: uniform with bound ``sqrt(6 / (size(-2) + size(-1)))``."""
    return (2.0 / (tensor.size(-2) + tensor.size(-1))) ** 0.5


@pytest.mark.parametrize("init", ["glorot", "xavier_normal"])
def test_gat_init_draws_the_weights_and_attention_vectors_at_its_scale(init: str) -> None:
    torch.manual_seed(0)
    encoder = build_gat(
        {"num_features": 512}, hidden_dim=512, output_dim=512, heads=4, residual=True, init=init
    )

    def expected(weight: torch.Tensor) -> float:  # xavier_normal: a normal of gain sqrt(2)
        return pyg_glorot_std(weight) if init == "glorot" else xavier_std(weight, 2**0.5)

    for conv in encoder.convs:
        params = (
            (conv.lin.weight, 0.02),
            (conv.res.weight, 0.02),
            (conv.att_src, 0.15),
            (conv.att_dst, 0.15),
        )
        for weight, tol in params:
            assert weight.std().item() == pytest.approx(expected(weight), rel=tol)
        bound = 3**0.5 * pyg_glorot_std(conv.lin.weight)  # glorot's uniform bound
        assert (conv.lin.weight.abs().max().item() > bound) == (init == "xavier_normal")  # normal tails
        assert torch.count_nonzero(conv.bias) == 0
        conv.reset_parameters()  # a reset keeps the layer's initialisation
        assert conv.lin.weight.std().item() == pytest.approx(expected(conv.lin.weight), rel=0.02)


def test_gat_init_reaches_graphmaes_decoder_and_rejects_unknown_names() -> None:
    torch.manual_seed(0)
    task = make(
        num_features=256, encoder_options={"hidden_dim": 256, "output_dim": 256}, decoder_init="xavier_normal"
    )
    weight = task.decoder.lin.weight  # [256, 256], one head
    assert task.decoder.init == "xavier_normal"
    assert weight.std().item() == pytest.approx(xavier_std(weight, 2**0.5), rel=0.03)
    assert all(conv.init == "glorot" for conv in task.encoder.convs)  # the encoder's own option
    with pytest.raises(ValueError, match=r"init must be one of \('glorot', 'xavier_normal'\), got 'kaiming'"):
        build_gat({"num_features": 8}, init="kaiming")


def test_graphmae_trains_on_the_sampled_subgraphs_of_a_batch_nodes_dataset() -> None:
    from sslcore.build import build_dataset, build_task

    bundle = build_dataset("sbm", None, {"batch_nodes": 16, "fanout": (5, 5)})
    task = build_task("graphmae", bundle, "gat", {}, {"hidden_dim": 16, "output_dim": 16})
    [sub] = bundle.pretrain.__getitems__(list(range(100, 116)))
    assert sub.batch_size == 16 and sub.num_nodes > 16
    graph, mask = batch = task.collate([sub])
    assert len(mask.masked) == 8 and int(mask.masked.max()) < 16  # seeds only
    losses = train_steps(lambda step: task(batch), task, steps=20, lr=0.01)
    assert losses[-1] < losses[0]
