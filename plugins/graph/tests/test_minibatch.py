"""Mini-batch node-level pretraining: the neighbour sampler, the seed-node dataset, the
tasks' seed-node losses, the dataset options and their bad inputs (issue 26)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Data
from torch_geometric.loader import NodeLoader
from torch_geometric.sampler import NodeSamplerInput, SamplerOutput

from sslcore.cli import main
from sslcore.engine import TrainConfig, Trainer
from sslcore.errors import ConfigError
from sslcore.runs import pretrain
from sslcore.testing.steps import train_steps
from sslcore_graph.datasets.sbm import sbm
from sslcore_graph.datasets.transductive import transductive_bundle
from sslcore_graph.encoders.gcn import build_gcn
from sslcore_graph.sampling import NeighborSubgraphs, UniformNeighborSampler
from sslcore_graph.tasks.bgrl import BGRL
from sslcore_graph.tasks.dgi import DeepGraphInfomax
from sslcore_graph.tasks.grace import GRACE
from sslcore_graph.tasks.node_views import seed_nodes


def random_graph(num_nodes: int = 60, seed: int = 0) -> Data:
    """A directed graph with varied in-degrees: hubs (in-degree 20+), ordinary nodes and
    nodes without in-edges; no duplicate edges."""
    gen = torch.Generator().manual_seed(seed)
    edges = set()
    for target in range(num_nodes):
        degree = [0, 1, 2, 3, 5, 8, 25][target % 7]
        for source in torch.randperm(num_nodes, generator=gen)[:degree].tolist():
            edges.add((source, target))
    edge_index = torch.tensor(sorted(edges)).t()
    return Data(x=torch.randn(num_nodes, 4, generator=gen), edge_index=edge_index)


def in_neighbours(graph: Data) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {v: set() for v in range(graph.num_nodes)}
    for s, t in graph.edge_index.t().tolist():
        out[t].add(s)
    return out


def check_sample(graph: Data, sub: Data, seeds: list[int], fanout: list[int]) -> None:
    """Every property of a uniform neighbour sample that does not depend on the draw."""
    n_id, edges = sub.n_id.tolist(), sub.edge_index
    assert n_id[: len(seeds)] == seeds and sub.batch_size == len(seeds)  # seeds first, in order
    assert len(set(n_id)) == len(n_id) and sub.x.shape[0] == len(n_id)
    torch.testing.assert_close(sub.x, graph.x[sub.n_id])
    # every sampled edge is an edge of the graph, and e_id names it
    global_edges = torch.stack([sub.n_id[edges[0]], sub.n_id[edges[1]]])
    assert torch.equal(global_edges, graph.edge_index[:, sub.e_id])
    neighbours = in_neighbours(graph)
    hop_nodes = torch.tensor(sub.num_sampled_nodes).cumsum(0).tolist()
    hop_edges = [0, *torch.tensor(sub.num_sampled_edges).cumsum(0).tolist()]
    assert len(sub.num_sampled_nodes) == len(fanout) + 1 and hop_edges[-1] == edges.shape[1]
    seen = list(seeds)
    for hop, k in enumerate(fanout):
        frontier = range(([0] + hop_nodes)[hop], hop_nodes[hop])  # local ids first reached at hop - 1
        hop_slice = slice(hop_edges[hop], hop_edges[hop + 1])
        targets, sources = edges[1, hop_slice].tolist(), edges[0, hop_slice].tolist()
        assert set(targets) <= set(frontier)
        per_target = Counter(targets)
        for v in frontier:
            degree = len(neighbours[n_id[v]])
            assert per_target.get(v, 0) == (degree if k == -1 else min(degree, k))
        pairs = list(zip(sources, targets))
        assert len(set(pairs)) == len(pairs)  # without replacement
        for source in sources:  # new nodes numbered in order of first appearance
            if n_id[source] not in seen:
                assert source == len(seen)
                seen.append(n_id[source])
    assert seen == n_id


@pytest.mark.parametrize("fanout", [[3], [2, 4], [-1, 2], [0, 5], [25, -1, 1]])
def test_uniform_sampler_draws_a_valid_neighbourhood_sample(fanout: list[int]) -> None:
    graph = random_graph()
    dataset = NeighborSubgraphs(graph, fanout)
    for seeds in ([5, 0, 13, 6], [6, 13, 20, 27, 34], list(range(60))):
        check_sample(graph, dataset.__getitems__(seeds)[0], seeds, fanout)


def test_uniform_sampler_picks_neighbours_uniformly() -> None:
    graph = random_graph()
    hub = 6  # in-degree 25
    neighbours = in_neighbours(graph)[hub]
    counts: Counter[int] = Counter()
    sampler = UniformNeighborSampler(graph, [5])
    draws = 2000
    for _ in range(draws):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([hub])))
        counts.update(out.node[out.row].tolist())
    assert set(counts) == neighbours
    # each neighbour is picked with probability 5 / 25 = 0.2 (binomial sd about 0.009)
    assert all(abs(c / draws - 0.2) < 0.045 for c in counts.values())


def test_the_dataset_gives_what_pygs_node_loader_builds_from_the_same_sample() -> None:
    graph = random_graph()
    seeds = torch.tensor([3, 9, 14, 22, 40])
    loader = NodeLoader(graph, UniformNeighborSampler(graph, [3, 2]), batch_size=5)  # input: every node
    torch.manual_seed(7)
    expected = loader(seeds)  # NodeLoader's sample + filter of one batch of input nodes
    torch.manual_seed(7)
    sub = NeighborSubgraphs(graph, [3, 2]).__getitems__(seeds.tolist())[0]
    assert isinstance(UniformNeighborSampler(graph, [1]).sample_from_nodes(
        NodeSamplerInput(None, seeds)), SamplerOutput)  # fmt: skip
    for key in ("x", "edge_index", "n_id", "e_id", "input_id"):
        assert torch.equal(sub[key], expected[key]), key
    assert sub.batch_size == expected.batch_size == 5
    assert sub.num_sampled_nodes == expected.num_sampled_nodes


def test_labels_are_left_out_and_the_graph_is_not_copied() -> None:
    graph = random_graph()
    graph.y = torch.zeros(graph.num_nodes, dtype=torch.long)
    dataset = NeighborSubgraphs(graph, [2])
    sub = dataset[4]
    assert "y" not in sub and "y" in graph and sub.batch_size == 1 and sub.n_id[0] == 4
    assert dataset.data.x.data_ptr() == graph.x.data_ptr() and len(dataset) == graph.num_nodes


def test_an_isolated_seed_keeps_its_place_and_its_own_embedding() -> None:
    graph = random_graph()  # node 0 has no in-edges
    assert 0 not in graph.edge_index[1].tolist()
    sub = NeighborSubgraphs(graph, [3]).__getitems__([0, 1])[0]
    assert sub.n_id[:2].tolist() == [0, 1] and 0 not in sub.edge_index[1].tolist()
    encoder = build_gcn({"num_features": 4}, hidden_dim=8, output_dim=8, num_layers=1)
    alone = Data(x=graph.x[:1], edge_index=torch.empty(2, 0, dtype=torch.long))
    torch.testing.assert_close(encoder(sub)[0], encoder(alone)[0])  # self-loop only


def test_the_dataset_works_through_a_dataloader_with_workers() -> None:
    graph = random_graph()
    task = DeepGraphInfomax(build_gcn({"num_features": 4}, hidden_dim=8, output_dim=8, num_layers=2))
    order = torch.randperm(graph.num_nodes).tolist()
    loader = DataLoader(
        NeighborSubgraphs(graph, [3, 3]), batch_size=16, sampler=order, collate_fn=task.collate, num_workers=2
    )
    batches = list(loader)
    assert [b.batch_size for b in batches] == [16, 16, 16, 12]
    assert torch.cat([b.n_id[seed_nodes(b)] for b in batches]).tolist() == order
    for batch in batches:
        assert torch.equal(batch.x, graph.x[batch.n_id])


def minibatch_graph() -> Data:
    from sslcore_graph.datasets.sbm import sbm_graph

    return sbm_graph(
        num_classes=3, nodes_per_class=60, p_in=0.15, p_out=0.01, num_features=16, noise=1.0, seed=2
    )


def make_task(name: str, num_layers: int):
    torch.manual_seed(0)
    encoder = build_gcn({"num_features": 16}, hidden_dim=32, output_dim=32, num_layers=num_layers)
    return {"dgi": DeepGraphInfomax, "grace": GRACE, "bgrl": BGRL}[name](encoder)


@pytest.mark.parametrize(("name", "fanout"), [("dgi", [5]), ("grace", [5, 5]), ("bgrl", [5, 5])])
def test_tasks_train_on_sampled_subgraphs(name: str, fanout: list[int]) -> None:
    graph = minibatch_graph()
    task = make_task(name, len(fanout))
    dataset = NeighborSubgraphs(graph, fanout)
    seeds = torch.randperm(graph.num_nodes)[:48].tolist()  # the same seeds, a new sample each step
    steps = 40

    def loss(step: int):
        batch = task.collate(dataset.__getitems__(seeds))
        return task(batch)

    losses = train_steps(
        loss, task, steps, lr=0.005, after_step=lambda s: task.on_train_step_end((s + 1) / steps)
    )
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.05


def test_dgi_loss_is_over_the_seed_nodes_only() -> None:
    graph = minibatch_graph()
    task = make_task("dgi", 1)
    batch = task.collate(NeighborSubgraphs(graph, [4]).__getitems__(list(range(10, 30)))[0:1])
    torch.manual_seed(3)
    loss = task(batch).loss
    torch.manual_seed(3)
    perm = torch.randperm(batch.num_nodes)  # the corruption shuffles the whole subgraph's rows
    h = task.encoder(batch)[:20]
    corrupted = batch.clone()
    corrupted.x = batch.x[perm]
    h_neg = task.encoder(corrupted)[:20]
    s = torch.sigmoid(h.mean(0))
    pos, neg = h @ task.head(s), h_neg @ task.head(s)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.cat([pos, neg]), torch.cat([torch.ones(20), torch.zeros(20)])
    )
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("name", ["dgi", "grace", "bgrl"])
def test_all_seeds_with_all_neighbours_give_the_full_graph_loss(name: str) -> None:
    graph = minibatch_graph()
    num_layers = 1 if name == "dgi" else 2
    task, twin = make_task(name, num_layers), make_task(name, num_layers)  # same weights, same view draws
    task.eval(), twin.eval()  # BGRL's predictor: running statistics
    sub = task.collate(NeighborSubgraphs(graph, [-1] * num_layers).__getitems__(list(range(graph.num_nodes))))
    assert sub.n_id.tolist() == list(range(graph.num_nodes))  # seeds are every node, in order
    assert sorted(map(tuple, sub.edge_index.t().tolist())) == sorted(
        map(tuple, graph.edge_index.t().tolist())
    )
    if name != "dgi":  # the views drop edges by position: give the subgraph the graph's edge order
        sub.edge_index, sub.e_id = graph.edge_index, torch.arange(graph.num_edges)
    torch.manual_seed(5)
    full = task(task.collate([graph])).loss
    torch.manual_seed(5)
    sampled = twin(sub).loss
    torch.testing.assert_close(sampled, full, rtol=1e-5, atol=1e-6)


# -- bad input --------------------------------------------------------------------------------


def test_a_fanout_longer_or_shorter_than_the_encoder_is_refused_at_the_first_batch() -> None:
    graph = minibatch_graph()
    task = make_task("grace", 2)
    for fanout in ([5], [5, 5, 5]):
        batch = NeighborSubgraphs(graph, fanout).__getitems__([0, 1, 2])
        with pytest.raises(
            ConfigError, match=rf"{len(fanout)} hop\(s\).*2 message-passing layer\(s\).*fanout=\[10, 10\]"
        ):
            task.collate(batch)


@pytest.mark.parametrize("name", ["attribute_masking", "gae", "mvgrl"])
def test_tasks_whose_loss_covers_every_node_refuse_a_sampled_subgraph(name: str) -> None:
    from sslcore_graph.tasks.attribute_masking import AttributeMasking
    from sslcore_graph.tasks.autoencoders import GraphAutoEncoder
    from sslcore_graph.tasks.mvgrl import MVGRL

    torch.manual_seed(0)
    encoder = build_gcn({"num_features": 16}, hidden_dim=32, output_dim=32, num_layers=1)
    task = {
        "attribute_masking": lambda e: AttributeMasking(e, num_features=16),
        "gae": GraphAutoEncoder,
        "mvgrl": MVGRL,
    }[name](encoder)
    graph = minibatch_graph()
    assert task.collate([graph]) is not None  # the full graph is fine
    with pytest.raises(ConfigError, match=r"full graph only.*drop the dataset option batch_nodes"):
        task.collate(NeighborSubgraphs(graph, [5]).__getitems__([0, 1, 2]))


def test_a_fanout_mismatch_stops_a_run_before_any_step(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="2 hop"):
        pretrain(
            "dgi", "sbm", tmp_path / "run", dataset_options={"batch_nodes": 32, "nodes_per_class": 20},
            steps=2, threads=1, progress_bar=False,
        )  # fmt: skip
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"batch_nodes": 0}, "batch_nodes"),
        ({"batch_nodes": -3}, "batch_nodes"),
        ({"batch_nodes": 8, "fanout": []}, "fanout"),
        ({"batch_nodes": 8, "fanout": [5, -2]}, "fanout"),
    ],
)
def test_bad_minibatch_options_are_refused(options: dict, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        sbm(nodes_per_class=10, **options)
    with pytest.raises(ConfigError, match=match):  # the CLI's option check, before building anything
        pretrain("dgi", "sbm", tmp_path / "run", dataset_options=options, steps=1, progress_bar=False)


def test_a_graph_without_features_or_with_edges_out_of_range_is_refused() -> None:
    labelled = dict(
        y=torch.zeros(4, dtype=torch.long),
        **{f"{s}_mask": torch.ones(4, dtype=torch.bool) for s in ("train", "val", "test")},
    )
    with pytest.raises(ValueError, match="no node features|node features x"):
        transductive_bundle(
            "toy", Data(edge_index=torch.tensor([[0], [1]]), num_nodes=4, **labelled), batch_nodes=2
        )
    bad = Data(x=torch.randn(4, 3), edge_index=torch.tensor([[0, 1], [1, 7]]), **labelled)
    with pytest.raises(ValueError, match="out of range.*0..7.*4 nodes"):
        transductive_bundle("toy", bad, batch_nodes=2)
    with pytest.raises(ValueError, match="out of range"):
        NeighborSubgraphs(bad, [2])


# -- the dataset options through a run ---------------------------------------------------------


def test_minibatch_options_build_a_seed_node_dataset() -> None:
    bundle = sbm(nodes_per_class=10, batch_nodes=8, fanout=(3,))
    assert isinstance(bundle.pretrain, NeighborSubgraphs) and bundle.batch_size == 8
    assert len(bundle.pretrain) == 40 and bundle.pretrain.fanout == (3,)
    graph, y = bundle.evaluation.dataset[0]  # evaluation stays full-graph
    assert graph.num_nodes == 40 and len(y) == 40
    full = sbm(nodes_per_class=10, fanout=(3,))  # fanout alone changes nothing
    assert full.batch_size == 1 and len(full.pretrain) == 1


def test_cli_pretrains_in_minibatches_and_records_the_options(tmp_path: Path) -> None:
    run = tmp_path / "dgi"
    args = ["pretrain", "dgi", "--dataset", "sbm", "--output", str(run), "--steps", "6", "--threads", "1"]
    options = [
        "--dataset-opt",
        "batch_nodes=32",
        "--dataset-opt",
        "fanout=[4]",
        "--dataset-opt",
        "nodes_per_class=50",
    ]
    assert (
        main(
            [
                *args,
                *options,
                "--no-progress",
                "--encoder-opt",
                "hidden_dim=16",
                "--encoder-opt",
                "output_dim=16",
            ]
        )
        == 0
    )
    config = json.loads((run / "config.json").read_text())
    assert config["dataset_options"]["batch_nodes"] == 32 and list(config["dataset_options"]["fanout"]) == [4]
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log][-1] == 6
    assert log[-1]["epoch"] == pytest.approx(1.0)  # 200 nodes in whole batches of 32: 6 steps per epoch
    assert main(["evaluate", str(run), "--protocol", "linear"]) == 0  # full-graph evaluation


class Interrupted(Exception):
    pass


class CrashingDGI(DeepGraphInfomax):
    crash_at: int | None = None

    def on_train_step_end(self, progress: float) -> None:
        self.steps_done = getattr(self, "steps_done", 0) + 1
        if self.steps_done == self.crash_at:
            raise Interrupted


def test_a_resumed_minibatch_run_continues_exactly(tmp_path: Path) -> None:
    graph = minibatch_graph()
    data = NeighborSubgraphs(graph, [4])

    def task(crash_at: int | None, seed: int) -> CrashingDGI:
        torch.manual_seed(seed)
        out = CrashingDGI(build_gcn({"num_features": 16}, hidden_dim=16, output_dim=16, num_layers=1))
        out.crash_at = crash_at
        return out

    config = TrainConfig(
        steps=10, lr=0.01, warmup=0.2, seed=3, checkpoint_every=4, device="cpu", progress_bar=False
    )
    straight = task(None, 1)
    Trainer(straight, config, tmp_path / "straight").fit(data, batch_size=50)  # 3 steps per epoch
    with pytest.raises(Interrupted):
        Trainer(task(6, 1), config, tmp_path / "resumed").fit(data, batch_size=50)
    resumed = task(None, 99)  # everything must come from the checkpoint of step 4
    Trainer(resumed, config, tmp_path / "resumed").fit(data, batch_size=50, resume=True)
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
