from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch_geometric.data import Batch, Data
from torch_geometric.nn import GINConv, global_add_pool
from torch_geometric.transforms import Compose
from torch_geometric.utils import to_undirected

from sslcore.testing.steps import train_steps
from sslcore_graph.augment import AddEdges, DropEdges, DropNodes
from sslcore_graph.datasets.sbm import sbm_graph
from sslcore_graph.tasks._graph_views import drop_nodes, mask_attributes, perturb_edges, random_walk_subgraph
from sslcore_graph.tasks.graphcl import GraphCL
from sslcore_graph.tasks.infograph import InfoGraph


class TinyGIN(nn.Module):
    """Two GIN layers with every layer's node features concatenated (``readout=False``:
    ``[num_nodes, 32]``) or sum-pooled per graph (``readout=True``: ``[num_graphs, 32]``)."""

    def __init__(self, in_features: int = 4, hidden: int = 16, readout: bool = True):
        super().__init__()
        self.convs = nn.ModuleList(
            GINConv(nn.Sequential(nn.Linear(a, hidden), nn.ReLU(), nn.Linear(hidden, hidden)))
            for a in (in_features, hidden)
        )
        self.output_dim, self.graph_level = 2 * hidden, readout

    def forward(self, data: Data) -> torch.Tensor:
        h, layers = data.x, []
        for conv in self.convs:
            h = torch.relu(conv(h, data.edge_index))
            layers.append(h)
        h = torch.cat(layers, dim=1)
        return global_add_pool(h, data.batch) if self.graph_level else h


def tiny_graphs(count: int = 12) -> list[Data]:
    """Small SBM graphs of 2 blocks, 4 features, different sizes and seeds."""
    return [
        sbm_graph(
            num_classes=2, nodes_per_class=5 + i % 4, p_in=0.5, p_out=0.1, num_features=4, noise=1.0, seed=i
        )
        for i in range(count)
    ]


def train(task: nn.Module, batch: object, steps: int, lr: float = 0.01) -> list[float]:
    return train_steps(lambda _: task(batch), task, steps, lr)


# -- augmentations --------------------------------------------------------------------
def test_node_dropping_and_edge_perturbation_are_the_plugin_transforms() -> None:
    """(whose rates, kept nodes and edges and untouched inputs test_augment.py checks)"""
    g = sbm_graph(num_classes=2, nodes_per_class=50, p_in=0.2, p_out=0.02, num_features=4, seed=0)
    for view, transform in (
        (drop_nodes, DropNodes),
        (perturb_edges, lambda r: Compose([DropEdges(r), AddEdges(r)])),
    ):
        torch.manual_seed(1)
        ours = view(g, 0.2)
        torch.manual_seed(1)
        theirs = transform(0.2)(g)
        assert torch.equal(ours.x, theirs.x) and torch.equal(ours.edge_index, theirs.edge_index)
        assert ours.num_nodes == theirs.num_nodes and not torch.equal(ours.edge_index, g.edge_index)


def test_attribute_masking_replaces_a_ratio_of_rows() -> None:
    g = sbm_graph(num_classes=2, nodes_per_class=10, p_in=0.5, p_out=0.1, num_features=4, seed=0)
    view = mask_attributes(g, 0.2)
    changed = (view.x != g.x).any(1)
    assert int(changed.sum()) == 4 and torch.equal(view.edge_index, g.edge_index)


def test_random_walk_subgraph_is_connected_and_of_the_target_size() -> None:
    g = Data(
        x=torch.arange(10.0).view(-1, 1),
        edge_index=to_undirected(torch.stack([torch.arange(9), torch.arange(1, 10)])),
    )
    view = random_walk_subgraph(g, 0.2)
    assert view.num_nodes == 8
    kept = view.x.view(-1).long()
    assert torch.equal(kept, torch.arange(int(kept.min()), int(kept.min()) + 8))  # an interval of the path
    assert view.edge_index.shape[1] == 2 * 7


def ego_like(n: int = 20) -> Data:
    """A centre (node 0, marker column 1) joined to a ring of ``n - 1`` nodes: every node
    is one or two hops from the centre, as in an ego-network."""
    ring = torch.arange(1, n)
    edges = torch.cat(
        [torch.stack([torch.zeros(n - 1, dtype=torch.long), ring]), torch.stack([ring, ring % (n - 1) + 1])],
        1,
    )
    x = torch.cat([torch.rand(n, 5) + 0.1, (torch.arange(n) == 0).float().view(-1, 1)], 1)
    return Data(x=x, edge_index=to_undirected(edges), num_nodes=n)


@pytest.mark.parametrize("view", [drop_nodes, mask_attributes])
def test_keep_centre_keeps_node_0_unchanged_in_every_view(view) -> None:
    torch.manual_seed(0)
    g = ego_like()
    lost = 0
    for _ in range(40):
        kept = view(g, 0.3, keep_centre=True)
        assert torch.equal(kept.x[0], g.x[0])  # still node 0, features untouched
        lost += int(not torch.equal(view(g, 0.3).x[0], g.x[0]))
    assert lost > 0  # without keep_centre the centre is dropped or masked


def test_keep_centre_starts_the_random_walk_subgraph_at_node_0() -> None:
    g = Data(
        x=torch.arange(10.0).view(-1, 1),
        edge_index=to_undirected(torch.stack([torch.arange(9), torch.arange(1, 10)])),
    )
    starts = set()
    for seed in range(10):
        torch.manual_seed(seed)
        assert torch.equal(random_walk_subgraph(g, 0.2, keep_centre=True).x.view(-1), torch.arange(8.0))
        starts.add(int(random_walk_subgraph(g, 0.2).x.min()))
    assert len(starts) > 1  # without it the path's kept interval starts anywhere


def test_zero_mask_token_zeroes_a_ratio_of_rows() -> None:
    torch.manual_seed(0)
    g = ego_like()
    view = mask_attributes(g, 0.2, token="zero")
    zeroed = (view.x == 0).all(1)
    assert int(zeroed.sum()) == 4 and torch.equal(view.x[~zeroed], g.x[~zeroed])
    noisy = mask_attributes(g, 0.2)  # the default token: Gaussian noise, not zeros
    assert not (noisy.x == 0).all(1).any()
    with pytest.raises(ValueError, match="token"):
        mask_attributes(g, 0.2, token="mean")


def test_graphcl_passes_keep_centre_and_mask_token_to_its_views() -> None:
    torch.manual_seed(0)
    g = ego_like()
    task = GraphCL(
        TinyGIN(in_features=6), augmentations=["mask_attributes"], mask_token="zero", keep_centre=True
    )
    v1, v2 = task.collate([g] * 8)
    for views in (v1, v2):
        centres = views.x[views.ptr[:-1]]
        assert torch.equal(centres, g.x[0].expand_as(centres))
        assert int((views.x == 0).all(1).sum()) == 8 * int(0.2 * g.num_nodes)
    with pytest.raises(ValueError, match="mask_token"):
        GraphCL(TinyGIN(), mask_token="mean")


# -- GraphCL --------------------------------------------------------------------------
def test_graphcl_views_pair_each_graph_with_itself() -> None:
    graphs = tiny_graphs(6)
    task = GraphCL(TinyGIN(), augmentations=["subgraph"])
    v1, v2 = task.collate(graphs)
    assert v1.num_graphs == v2.num_graphs == 6
    # the subgraph view keeps int(0.8 n) nodes of each graph, in the batch's order
    assert [int(n) for n in v1.ptr.diff()] == [int(0.8 * g.num_nodes) for g in graphs]
    assert [int(n) for n in v2.ptr.diff()] == [int(0.8 * g.num_nodes) for g in graphs]
    with pytest.raises(ValueError, match="augmentations"):
        GraphCL(TinyGIN(), augmentations=["rotate"])


def test_graphcl_steps_lower_the_loss() -> None:
    torch.manual_seed(0)
    task = GraphCL(TinyGIN())
    batch = task.collate(tiny_graphs())
    losses = train(task, batch, 20)
    assert losses[-1] < losses[0] - 0.3
    assert task.temperature == 0.2


# -- InfoGraph ------------------------------------------------------------------------
def test_infograph_positives_are_nodes_with_their_own_graph() -> None:
    task = InfoGraph(TinyGIN(readout=False))
    graphs = tiny_graphs(3)
    batch = task.collate(graphs)
    pos, neg = task.scores(batch)
    n = batch.num_nodes
    assert pos.shape == (n,) and neg.shape == (n * 2,)
    h = task.encoder(batch)
    g = global_add_pool(h, batch.batch)
    res = task.head["local"](h) @ task.head["global"](g).T
    assert torch.allclose(pos, res[torch.arange(n), batch.batch])


def test_infograph_steps_lower_the_loss_and_separate_positives() -> None:
    torch.manual_seed(0)
    task = InfoGraph(TinyGIN(readout=False))
    batch = task.collate(tiny_graphs())
    losses = train(task, batch, 40, lr=0.005)
    assert losses[-1] < losses[0] - 0.3
    with torch.no_grad():
        pos, neg = task.scores(batch)
    assert pos.mean() > neg.mean()


def test_infograph_rejects_graph_level_encoders_and_single_graph_batches() -> None:
    graphs = tiny_graphs(3)
    with pytest.raises(ValueError, match="needs node embeddings"):
        InfoGraph(TinyGIN(readout=True)).scores(Batch.from_data_list(graphs))
    with pytest.raises(ValueError, match="at least 2 graphs"):
        InfoGraph(TinyGIN(readout=False))(Batch.from_data_list(graphs[:1]))


@pytest.mark.parametrize(
    ("name", "options"),
    [("gcc", {"num_seeds": 8, "rw_hops": 16, "queue_size": 32}), ("graphcl", {}), ("infograph", {})],
)
def test_registered_tasks_train_with_the_default_gin_and_embed_each_graph(name: str, options: dict) -> None:
    from sslcore.build import build_task
    from sslcore.engine.config import TrainConfig
    from sslcore.engine.trainer import Trainer
    from sslcore.evaluation import extract_embeddings
    from sslcore_graph.datasets.graphs import from_pyg

    graphs = tiny_graphs()
    for i, g in enumerate(graphs):
        g.y = torch.tensor([i % 2])
    bundle = from_pyg(graphs, name="tiny")
    task = build_task(name, bundle, task_options=options)
    result = Trainer(task, TrainConfig(steps=3, batch_size=6, progress_bar=False)).fit(bundle.pretrain)
    assert result.steps == 3 and np.isfinite(result.final_loss)
    X, y = extract_embeddings(task, bundle.evaluation)
    assert X.shape == (12, task.encoder.output_dim) and y.tolist() == [i % 2 for i in range(12)]
