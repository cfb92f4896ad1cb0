"""MVGRL on Cora: the recipe against variants of the reference code and of the paper's text.

Each run is ``sslcore.runs.pretrain("mvgrl", "cora", ...)`` with the task's recipe (GCN 1 x 512,
PPR alpha 0.2 cut to an average degree of 64 and read as it is, Adam lr 0.002, 100 epochs), then
``sslcore.runs.evaluate`` with the core ``linear`` probe: validation accuracy (for choosing) and
test accuracy (reported) on the public split. The variants change the task in this process only
(the library is not changed; a variant that helped would become a task option):

- ``recipe``: the recipe as it is (a control: it must repeat
  ``sslcore pretrain mvgrl --dataset cora --seed S`` seed for seed);
- ``xavier-discriminator``: the reference's discriminator initialisation, Xavier-uniform over
  ``nn.Bilinear(d, d, 1)``'s weight ``[1, d, d]`` (bound ``sqrt(6 / (d^2 + d))``, about ten times
  smaller than ``nn.Linear``'s default);
- ``dot-discriminator``: the paper's discriminator (its method section), a dot product
  ``D(h, s) = h . s`` in place of the node-level reference code's bilinear ``h^T W s``;
- ``citeseer-diffusion``: the reference's diffusion rule for CiteSeer, applied to Cora: the
  diffusion thresholded to the graph's own average degree, then every column min-max scaled to
  [0, 1] (scikit-learn's ``MinMaxScaler`` on the dense matrix; the thresholded entries are 0, so
  each column is divided by its largest entry);
- ``paper-schedule``: the paper's whole schedule, 4 samples of 2000 nodes per step
  (``sample_size=2000``), Adam lr 0.001, stopped once the training loss has not reached a new low
  for 20 epochs (``patience=20``, at most 3000 epochs): the control of the two below;
- ``paper-schedule-block``: the same, but each sample's adjacency view is the block of the
  *whole graph's* normalised adjacency ``D^-1/2 (A + I) D^-1/2`` (the reference slices its
  normalised dense matrix, so a node keeps its whole-graph degree), not the induced subgraph
  renormalised by the GCN; the adjacency encoder reads those weights as they are, at evaluation
  too (the whole graph's normalisation, so ``embed`` is unchanged);
- ``paper-schedule-window``: the reference's sampling exactly: the block above over a
  contiguous window of node indices ``[i, i + 2000)`` (``i`` uniform), not a random node set;
- ``paper-heads``: the paper's text (its method section), which the node-level reference code
  leaves out: shared projection heads, the node embeddings of both views through one MLP
  ``f_psi`` and both summaries through another, ``f_phi`` (each the reference's graph-level
  ``MLP``: three Linear-PReLU layers plus a linear shortcut, ``d -> d``), and the discriminator
  a dot product ``D(h, s) = h . s`` in place of the bilinear form (as the graph-level code);
  ``embed`` is the sum of both views' *projected* node embeddings (the paper's
  ``H = H^a + H^b``, the graph-level code's ``embed``);
- ``paper-heads-encoder``: the same training; ``embed`` is the sum of the encoders' outputs,
  before the head (the usual reading of a projection head).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/graph_mvgrl_variants.py
        [--variants recipe xavier-discriminator dot-discriminator citeseer-diffusion
                    paper-schedule paper-schedule-block paper-schedule-window
                    paper-heads paper-heads-encoder] [--seeds 0 1 2 3]
        [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/graph_mvgrl_variants.json`` and prints the means. A rerun skips the
(variant, seed) pairs already in the output.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from _common import finished, record_seeded_runs
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import scatter

from sslcore.contrast import bce_mi
from sslcore.runs import evaluate, pretrain
from sslcore_graph.corruption import shuffle_node_features
from sslcore_graph.tasks.mvgrl import MVGRL

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_mvgrl_variants.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"
VARIANTS = (
    "recipe",
    "xavier-discriminator",
    "dot-discriminator",
    "citeseer-diffusion",
    "paper-schedule",
    "paper-schedule-block",
    "paper-schedule-window",
    "paper-heads",
    "paper-heads-encoder",
)
#: the paper's schedule (train options): Adam lr 0.001, early stopping with patience 20
PAPER_SCHEDULE: dict[str, Any] = {"lr": 0.001, "patience": 20, "epochs": 3000}


def xavier_discriminator(task: MVGRL) -> None:
    """The reference's ``xavier_uniform_`` on ``nn.Bilinear(d, d, 1).weight`` ``[1, d, d]``:
    fan in ``d * d``, fan out ``d``; its bias starts at 0, as the head's missing bias."""
    d = task.head.weight.shape[0]
    bound = math.sqrt(6.0 / (d * d + d))
    nn.init.uniform_(task.head.weight, -bound, bound)


def column_max_scaled(view: Data) -> Data:
    """The diffusion view with each column ``j`` of ``S`` divided by its largest entry (the
    reference's ``MinMaxScaler`` on a thresholded ``S``). Row ``i`` of ``S`` aggregates into node
    ``i`` from the nodes ``j`` of ``edge_index[0]``, so column ``j`` is the edges leaving ``j``."""
    source = view.edge_index[0]
    largest = scatter(view.edge_weight, source, dim=0, dim_size=view.num_nodes, reduce="max")
    view.edge_weight = view.edge_weight / largest[source]
    return view


def normalised(graph: Data) -> Data:
    """``graph`` with the GCN's normalised adjacency ``D^-1/2 (A + I) D^-1/2`` as its weighted
    edges (self-loops included), for an encoder whose ``GCNConv`` layers do not normalise."""
    view = copy.copy(graph)
    weight = getattr(graph, "edge_weight", None)
    view.edge_index, view.edge_weight = gcn_norm(graph.edge_index, weight, graph.num_nodes)
    return view


def block_views(task: MVGRL, graph: Data, window: bool) -> list[tuple[Data, Data]]:
    """The reference's samples: ``num_samples`` blocks of ``sample_size`` nodes of the whole
    graph's normalised adjacency and of its diffusion, over a random node set or (``window``) a
    contiguous index window."""
    adjacency, diffused = normalised(graph), task.diffusion_view(graph)
    n, size = int(graph.num_nodes), task.sample_size
    device = graph.edge_index.device
    pairs = []
    for _ in range(task.num_samples):
        if window:
            start = int(torch.randint(0, n - size + 1, ()))
            nodes = torch.arange(start, start + size, device=device)
        else:
            nodes = torch.randperm(n, device=device)[:size]
        pairs.append((adjacency.subgraph(nodes), diffused.subgraph(nodes)))
    return pairs


class ProjectionHead(nn.Module):
    """The reference's graph-level ``MLP``: ``ffn(x) + shortcut(x)``, ``ffn`` three
    Linear-PReLU layers, ``[n, d] -> [n, d]``."""

    def __init__(self, dim: int):
        super().__init__()
        layers = [m for _ in range(3) for m in (nn.Linear(dim, dim), nn.PReLU())]
        self.ffn, self.shortcut = nn.Sequential(*layers), nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.ffn(x) + self.shortcut(x)


def contrast_with_heads(task: MVGRL, adjacency: Data, diffused: Data) -> tuple[Tensor, Tensor]:
    """:meth:`MVGRL.contrast` with the paper's projection heads and dot-product discriminator:
    nodes through ``task.node_head``, the summaries ``sigma(mean h)`` of the encoders' outputs
    through ``task.summary_head``, scores ``h . s``."""
    corrupted = shuffle_node_features(adjacency)
    corrupted_diffused = copy.copy(diffused)
    corrupted_diffused.x = corrupted.x
    raw_a, raw_b = task.encoder(adjacency), task.diffusion_encoder(diffused)
    h_a, h_b = task.node_head(raw_a), task.node_head(raw_b)
    c_a = task.node_head(task.encoder(corrupted))
    c_b = task.node_head(task.diffusion_encoder(corrupted_diffused))
    s_a, s_b = (task.summary_head(task.summary(h)[None])[0] for h in (raw_a, raw_b))
    pos = torch.cat([h_b @ s_a, h_a @ s_b])
    neg = torch.cat([c_b @ s_a, c_a @ s_b])
    accuracy = torch.cat([(pos > 0).float(), (neg < 0).float()]).mean()
    return bce_mi(pos, neg), accuracy


@contextlib.contextmanager
def variant(name: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Patch :class:`MVGRL` for ``name`` while the block runs; yields the task options and
    the train options."""
    init, view = MVGRL.__init__, MVGRL.diffusion_view

    def init_xavier(self: MVGRL, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        xavier_discriminator(self)

    def init_prenormalised(self: MVGRL, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        for m in self.encoder.modules():
            if isinstance(m, GCNConv):
                m.normalize = False  # it reads normalised() weights

    def init_heads(self: MVGRL, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        dim = self.head.weight.shape[0]
        self.node_head, self.summary_head = ProjectionHead(dim), ProjectionHead(dim)

    def embed_projected(self: MVGRL, inputs: Data) -> Tensor:
        diffused = self.diffusion_encoder(self.diffusion_view(inputs))
        return self.node_head(self.encoder(inputs)) + self.node_head(diffused)

    def embed_prenormalised(self: MVGRL, inputs: Data) -> Tensor:
        return self.encoder(normalised(inputs)) + self.diffusion_encoder(self.diffusion_view(inputs))

    sampled = {"sample_size": 2000}
    block = {
        "__init__": init_prenormalised,
        "views": lambda self, g: block_views(self, g, window=False),
        "embed": embed_prenormalised,
    }
    window = block | {"views": lambda self, g: block_views(self, g, window=True)}
    heads = {"__init__": init_heads, "contrast": contrast_with_heads}
    patches: dict[str, tuple[dict[str, Callable[..., Any]], dict[str, Any], dict[str, Any]]] = {
        "recipe": ({}, {}, {}),
        "xavier-discriminator": ({"__init__": init_xavier}, {}, {}),
        "dot-discriminator": ({"discriminate": lambda self, h, s: h @ s}, {}, {}),
        "citeseer-diffusion": (
            {"diffusion_view": lambda self, g: column_max_scaled(view(self, g))},
            {"avg_degree": None},
            {},
        ),
        "paper-schedule": ({}, sampled, PAPER_SCHEDULE),
        "paper-schedule-block": (block, sampled, PAPER_SCHEDULE),
        "paper-schedule-window": (window, sampled, PAPER_SCHEDULE),
        "paper-heads": (heads | {"embed": embed_projected}, {}, {}),
        "paper-heads-encoder": (heads, {}, {}),
    }
    overrides, options, train = patches[name]
    with contextlib.ExitStack() as stack:
        for attribute, value in overrides.items():
            stack.enter_context(mock.patch.object(MVGRL, attribute, value))
        yield options, train


def one_run(name: str, seed: int, data_root: Path, folder: Path) -> dict[str, float]:
    run = folder / f"mvgrl-{name}-s{seed}"
    with variant(name) as (options, train):
        result = pretrain(
            "mvgrl",
            "cora",
            run,
            data_root=data_root,
            task_options=options,
            seed=seed,
            threads=1,
            progress_bar=False,
            **train,
        )
        finished(result, run)
        metrics = evaluate(run, protocol="linear", data_root=data_root)
    return {"val": 100 * metrics["selection_accuracy"], "test": 100 * metrics["test_accuracy"]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    args = p.parse_args()
    torch.set_num_threads(1)
    keys = [(name, seed) for name in args.variants for seed in args.seeds]
    record_seeded_runs(
        args.output, keys, lambda name, seed, folder: one_run(name, seed, args.data_root, folder)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
