"""Node-level contrastive tasks: GRACE, BGRL, MVGRL."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data
from torch_geometric.utils import to_dense_adj

from sslcore.build import build_dataset, build_task
from sslcore.contrast import nt_xent
from sslcore.testing.steps import train_steps
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.tasks.bgrl import BGRL
from sslcore_graph.tasks.grace import GRACE
from sslcore_graph.tasks.mvgrl import MVGRL

TASKS = {"grace": GRACE, "bgrl": BGRL, "mvgrl": MVGRL}


def make(name: str, **options):
    torch.manual_seed(0)
    return TASKS[name](build_gcn({"num_features": 8}, hidden_dim=32, output_dim=32, num_layers=2), **options)


def train(task, graph: Data, steps: int, lr: float = 0.01) -> list[float]:
    def after_step(step: int) -> None:
        task.on_train_step_end((step + 1) / steps)

    return train_steps(lambda _: task(task.collate([graph])), task, steps, lr, after_step=after_step)


def grace_loss_plain(u: torch.Tensor, v: torch.Tensor, tau: float) -> torch.Tensor:
    """GRACE's formula as written in the paper (and its reference code's ``semi_loss``)."""

    def semi(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a, b = F.normalize(a), F.normalize(b)
        refl, between = torch.exp(a @ a.T / tau), torch.exp(a @ b.T / tau)
        return -torch.log(between.diag() / (refl.sum(1) + between.sum(1) - refl.diag()))

    return 0.5 * (semi(u, v) + semi(v, u)).mean()


def test_grace_loss_is_nt_xent_over_both_views() -> None:
    u, v = torch.randn(50, 16), torch.randn(50, 16)
    for tau in (0.4, 1.0):
        torch.testing.assert_close(nt_xent(u, v, temperature=tau), grace_loss_plain(u, v, tau))


def test_grace_task_loss_is_the_plain_formula_on_its_projections(small_graph: Data) -> None:
    task = make("grace", drop_edge_1=0.0, drop_edge_2=0.0, mask_feature_1=0.0, mask_feature_2=0.0)
    z = task.project(small_graph)
    torch.testing.assert_close(task(small_graph).loss, grace_loss_plain(z, z, 0.4))


def test_grace_views_follow_the_configured_rates(small_graph: Data) -> None:
    task = make("grace", drop_edge_1=0.0, drop_edge_2=1.0, mask_feature_1=1.0, mask_feature_2=0.0)
    v1, v2 = (view(small_graph) for view in task.views)
    assert v1.edge_index.shape == small_graph.edge_index.shape and (v1.x == 0).all()
    assert v2.edge_index.shape[1] == 0 and torch.equal(v2.x, small_graph.x)


@pytest.mark.parametrize("name", TASKS)
def test_a_few_steps_lower_the_loss(name: str, small_graph: Data) -> None:
    task = make(name)
    losses = train(task, small_graph, steps=25)
    assert sum(losses[-5:]) / 5 < losses[0] - 0.05, losses


@pytest.mark.parametrize("name", TASKS)
def test_built_from_the_registry_on_karate(name: str) -> None:
    bundle = build_dataset("karate")
    task = build_task(name, bundle, encoder_options={"output_dim": 16})
    assert isinstance(task, TASKS[name])
    losses = train(task, bundle.pretrain[0], steps=3)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert task.embed(bundle.pretrain[0]).shape == (34, 16)


def test_bgrl_target_gets_no_gradient_and_moves_by_ema(small_graph: Data) -> None:
    task = make("bgrl")
    online_before = {k: v.clone() for k, v in task.encoder.state_dict().items()}
    target_before = {k: v.clone() for k, v in task.target_encoder.state_dict().items()}
    assert all(torch.equal(online_before[k], target_before[k]) for k in online_before)  # starts as a copy
    opt = torch.optim.SGD([p for p in task.parameters() if p.requires_grad], lr=0.5)
    task(small_graph).loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in task.target_encoder.parameters())
    assert all(p.grad is not None for p in task.encoder.parameters())
    opt.step()
    for k, v in task.target_encoder.state_dict().items():  # the optimiser leaves the target alone
        assert torch.equal(v, target_before[k]), k
    online = {k: v.clone() for k, v in task.encoder.state_dict().items()}
    assert any(not torch.equal(online[k], online_before[k]) for k in online)
    task.on_train_step_end(0.0)
    m = task.momentum.momentum(0)
    assert m == pytest.approx(0.99)
    for name, p in task.target_encoder.named_parameters():
        torch.testing.assert_close(p, m * target_before[name] + (1 - m) * online[name])


def test_bgrl_momentum_rises_to_one_over_training() -> None:
    task = make("bgrl")
    ms = [task.momentum.momentum(round(p * 10_000)) for p in (0.0, 0.5, 1.0)]
    assert ms[0] == pytest.approx(0.99) and ms[0] < ms[1] < ms[2] == pytest.approx(1.0)


def test_mvgrl_embeds_the_sum_of_both_views(small_graph: Data) -> None:
    task = make("mvgrl").eval()
    diffused = task.diffusion_view(small_graph)
    assert diffused.edge_weight is not None and torch.equal(diffused.x, small_graph.x)
    expected = task.encoder(small_graph) + task.diffusion_encoder(diffused)
    torch.testing.assert_close(task.embed(small_graph), expected)


def plain_ppr(graph: Data, alpha: float) -> torch.Tensor:
    """MVGRL's dense PPR matrix as its reference code computes it: T = D^-1/2 (A + I) D^-1/2,
    S = alpha (I - (1 - alpha) T)^-1, in float64."""
    a = to_dense_adj(graph.edge_index, max_num_nodes=graph.num_nodes)[0].double()
    a = a + torch.eye(graph.num_nodes, dtype=a.dtype)
    d = a.sum(1).rsqrt()
    t = d[:, None] * a * d[None, :]
    return alpha * torch.linalg.inv(torch.eye(graph.num_nodes, dtype=a.dtype) - (1 - alpha) * t)


@pytest.mark.parametrize("normalize", [False, True])
def test_mvgrl_diffusion_encoder_reads_the_ppr_matrix(small_graph: Data, normalize: bool) -> None:
    """Default (the reference): H = PReLU(S X W + b) with S the dense PPR matrix as it is.
    ``normalize_diffusion=True``: S normalised symmetrically, then GCN's self-loops and
    normalisation on top."""
    torch.manual_seed(0)
    encoder = build_gcn({"num_features": 8}, hidden_dim=16, output_dim=16, num_layers=1)
    task = MVGRL(encoder, alpha=0.2, avg_degree=small_graph.num_nodes, normalize_diffusion=normalize).eval()
    s = plain_ppr(small_graph, 0.2)
    if normalize:
        d = s.sum(1).rsqrt()
        s = d[:, None] * s * d[None, :] + torch.eye(small_graph.num_nodes, dtype=s.dtype)
        d = s.sum(1).rsqrt()
        s = d[:, None] * s * d[None, :]
    conv, act = task.diffusion_encoder.convs[0], task.diffusion_encoder.acts[0]
    expected = act(s.float() @ conv.lin(small_graph.x) + conv.bias)
    diffused = task.diffusion_view(small_graph)
    torch.testing.assert_close(task.diffusion_encoder(diffused), expected, atol=1e-5, rtol=1e-4)
    # the adjacency view keeps GCN's normalisation either way
    assert task.encoder.convs[0].normalize


def test_mvgrl_diffusion_is_cached_per_graph_and_matches_its_degree(small_graph: Data) -> None:
    task = make("mvgrl")
    first, second = task.diffusion_view(small_graph), task.diffusion_view(small_graph)
    assert first.edge_index is second.edge_index  # computed once for the same graph
    avg_degree = small_graph.edge_index.shape[1] / small_graph.num_nodes
    assert abs(first.edge_index.shape[1] / small_graph.num_nodes - avg_degree) < 2
    other = copy.copy(small_graph)
    other.edge_index = small_graph.edge_index[:, :100]
    assert task.diffusion_view(other).edge_index is not first.edge_index


def test_mvgrl_encoders_start_independent_and_both_learn(small_graph: Data) -> None:
    task = make("mvgrl")
    a, b = task.encoder.convs[0].lin.weight, task.diffusion_encoder.convs[0].lin.weight
    assert not torch.equal(a, b)
    task(small_graph).loss.backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    assert task.head.weight.grad.abs().sum() > 0  # DGI's bilinear discriminator


def test_mvgrl_sub_samples_blocks_of_the_whole_graphs_diffusion(small_graph: Data) -> None:
    task = make("mvgrl", sample_size=40, num_samples=3)
    small_graph.node_id = torch.arange(90)  # travels into the samples: their nodes' ids
    full = task.diffusion_view(small_graph)
    dense_full = to_dense_adj(full.edge_index, edge_attr=full.edge_weight, max_num_nodes=90)[0]
    pairs = task.views(small_graph)
    assert len(pairs) == 3
    for adjacency, diffused in pairs:
        nodes = adjacency.node_id
        assert adjacency.num_nodes == diffused.num_nodes == 40 and len(nodes.unique()) == 40
        assert torch.equal(adjacency.x, diffused.x) and torch.equal(adjacency.x, small_graph.x[nodes])
        block = to_dense_adj(diffused.edge_index, edge_attr=diffused.edge_weight, max_num_nodes=40)[0]
        torch.testing.assert_close(block, dense_full[nodes][:, nodes])  # not a diffusion of the sample
        induced = to_dense_adj(adjacency.edge_index, max_num_nodes=40)[0]
        whole = to_dense_adj(small_graph.edge_index, max_num_nodes=90)[0]
        assert torch.equal(induced, whole[nodes][:, nodes])


def test_mvgrl_trains_on_its_samples_and_embeds_the_whole_graph(small_graph: Data, monkeypatch) -> None:
    task = make("mvgrl", sample_size=30, num_samples=2)
    seen: list[int] = []
    forward = type(task.encoder).forward

    def recording(self, data):
        seen.append(int(data.num_nodes))
        return forward(self, data)

    monkeypatch.setattr(type(task.encoder), "forward", recording)
    out = task(small_graph)
    assert torch.isfinite(out.loss) and 0 <= float(out.metrics["disc_acc"]) <= 1
    assert seen == [30] * 8  # 2 samples x (2 views + 2 corrupted views)
    seen.clear()
    assert task.embed(small_graph).shape == (90, 32) and seen == [90, 90]
    whole = make("mvgrl", sample_size=500)  # larger than the graph: one whole-graph pair
    assert [a.num_nodes for a, _ in whole.views(small_graph)] == [90]


def test_mvgrl_loss_is_the_mean_over_its_samples(small_graph: Data) -> None:
    task = make("mvgrl", sample_size=30, num_samples=3)
    torch.manual_seed(1)
    loss = task(small_graph).loss
    torch.manual_seed(1)
    pairs = task.views(small_graph)
    expected = torch.stack([task.contrast(a, b)[0] for a, b in pairs]).mean()
    torch.testing.assert_close(loss, expected)
