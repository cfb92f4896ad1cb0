"""MVGRL on Cora: the recipe against variants of the reference code that are not task options.

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
- ``citeseer-diffusion``: the reference's diffusion rule for CiteSeer, applied to Cora: the
  diffusion thresholded to the graph's own average degree, then every column min-max scaled to
  [0, 1] (scikit-learn's ``MinMaxScaler`` on the dense matrix; the thresholded entries are 0, so
  each column is divided by its largest entry).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/graph_mvgrl_variants.py
        [--variants recipe xavier-discriminator citeseer-diffusion] [--seeds 0 1 2 3]
        [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/graph_mvgrl_variants.json`` and prints the means. A rerun skips the
(variant, seed) pairs already in the output.
"""

from __future__ import annotations

import argparse
import contextlib
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from _common import finished, record_seeded_runs
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import scatter

from sslcore.runs import evaluate, pretrain
from sslcore_graph.tasks.mvgrl import MVGRL

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_mvgrl_variants.json"
DATA_ROOT = HERE.parent.parent / "shared" / "data"
VARIANTS = ("recipe", "xavier-discriminator", "citeseer-diffusion")


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


@contextlib.contextmanager
def variant(name: str) -> Iterator[dict[str, Any]]:
    """Patch :class:`MVGRL` for ``name`` while the block runs; yields the task options."""
    init, view = MVGRL.__init__, MVGRL.diffusion_view

    def init_xavier(self: MVGRL, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        xavier_discriminator(self)

    patches: dict[str, tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]]] = {
        "recipe": (init, view, {}),
        "xavier-discriminator": (init_xavier, view, {}),
        "citeseer-diffusion": (init, lambda self, g: column_max_scaled(view(self, g)), {"avg_degree": None}),
    }
    MVGRL.__init__, MVGRL.diffusion_view, options = patches[name]
    try:
        yield options
    finally:
        MVGRL.__init__, MVGRL.diffusion_view = init, view


def one_run(name: str, seed: int, data_root: Path, folder: Path) -> dict[str, float]:
    run = folder / f"mvgrl-{name}-s{seed}"
    with variant(name) as options:
        result = pretrain(
            "mvgrl",
            "cora",
            run,
            data_root=data_root,
            task_options=options,
            seed=seed,
            threads=1,
            progress_bar=False,
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
