"""How much a Cora linear-probe number depends on the one fixed split it is read on: the same
finished runs probed on the public split and on many random splits of two shapes.

Shapes (node counts: training / validation / test):

- ``public``: Planetoid's split (20 per class = 140 / 500 / 1000), the issue's protocol.
- ``balanced``: random splits of the public split's shape: 20 nodes of each class, then 500
  and 1000 from the rest.
- ``pygcn``: random splits of the shape of the split MVGRL's paper was measured on: 140
  nodes drawn whatever their class, then 300 and 1000. MVGRL's code (``dgl==0.4.1``) loads
  Cora with DGL's old ``CoraDataset``, which read pygcn's ``cora.content`` and took its nodes
  0-139 / 200-499 / 500-1499; DGL switched to the Planetoid split later (its issue 1573).

Each split's number is the mean over the runs given (one per seed, as a paper's mean over
seeds on its one split); the core ``linear`` probe (C chosen on the split's validation
nodes) gives each run's test accuracy. Splits are drawn from ``--first-split`` on, each from
its own index, so every task is read on the same splits. It trains nothing:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/graph_cora_splits.py \\
        --runs mvgrl RUNS/mvgrl-s* --runs dgi RUNS/dgi-s* [--splits 100] [--output FILE]

Writes ``benchmarks/results/graph_cora_splits.json``: per task the public split's mean and,
per random shape, the distribution of the split means (mean, standard deviation,
percentiles, the share of splits at or above ``--reference`` values) and where the public
split's mean falls in it.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
from _common import provenance

from sslcore.evaluation import extract_embeddings, linear_probe
from sslcore.io import atomic_write_json
from sslcore.runs import load_run

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "graph_cora_splits.json"
#: training nodes per class or in all, validation and test nodes of each random shape
SHAPES = {"balanced": (20, 500, 1000), "pygcn": (140, 300, 1000)}
PERCENTILES = (5, 25, 50, 75, 95)


def random_split(y: np.ndarray, shape: str, index: int) -> dict[str, np.ndarray]:
    """Split ``index`` of ``shape`` (see the module doc): disjoint node index arrays."""
    rng = np.random.default_rng([index, list(SHAPES).index(shape)])
    train_size, val_size, test_size = SHAPES[shape]
    if shape == "balanced":
        train = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), train_size, replace=False) for c in np.unique(y)]
        )
    else:
        train = rng.choice(len(y), train_size, replace=False)
    rest = rng.permutation(np.setdiff1d(np.arange(len(y)), train))
    return {"train": train, "val": rest[:val_size], "test": rest[val_size : val_size + test_size]}


def embed(run_dir: Path, data_root: Path) -> tuple[int, torch.Tensor, np.ndarray, dict]:
    """The frozen embeddings of a finished run on Cora, its labels and public split."""
    task, bundle, run = load_run(run_dir, data_root)
    evaluation = bundle.evaluation
    if evaluation is None or evaluation.splits is None or run["dataset"] != "graph:cora":
        raise SystemExit(f"{run_dir}: not a run on Cora with its public split (dataset {run['dataset']})")
    x, y = extract_embeddings(task, evaluation, torch.device("cpu"))
    return run["train"]["seed"], x, np.asarray(y), evaluation.splits


def spread(values: np.ndarray) -> dict[str, float]:
    """Mean, sample standard deviation, minimum and maximum, rounded to 0.01."""
    stats = (values.mean(), values.std(ddof=1), values.min(), values.max())
    return {k: round(float(v), 2) for k, v in zip(("mean", "std", "min", "max"), stats)}


def summarise(means: list[float], public: float, references: list[float]) -> dict:
    """The distribution of per-split means, and where ``public`` falls in it."""
    values = np.asarray(means)
    return {
        "splits": len(means),
        **spread(values),
        "percentiles": {str(p): round(float(np.percentile(values, p)), 2) for p in PERCENTILES},
        "public_split_percentile": round(float((values < public).mean() * 100), 1),
        "share_at_or_above": {str(r): round(float((values >= r).mean()), 3) for r in references},
    }


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--runs",
        nargs="+",
        action="append",
        required=True,
        metavar="LABEL RUN",
        help="a label, then finished Cora run folders of one recipe (one per seed); repeatable",
    )
    p.add_argument("--splits", type=int, default=100, help="random splits of each shape")
    p.add_argument("--first-split", type=int, default=0)
    p.add_argument("--reference", type=float, nargs="*", default=[84.0, 86.8])
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


def paired_differences(first: dict[str, list[float]], other: dict[str, list[float]]) -> dict:
    """Per shape: the distribution over splits of ``first``'s split mean minus ``other``'s
    on the same split (``"public"``: the one difference)."""
    out: dict = {"public": round(first["public"][0] - other["public"][0], 2)}
    for shape in SHAPES:
        out[shape] = spread(np.asarray(first[shape]) - np.asarray(other[shape]))
    return out


def main() -> None:
    args = parse_args()
    if args.splits < 2:
        raise SystemExit(f"--splits {args.splits}: a distribution needs at least 2 splits")
    torch.set_num_threads(1)
    indices = range(args.first_split, args.first_split + args.splits)
    summary, per_split, means = {}, [], {}
    for label, *run_dirs in args.runs:
        if not run_dirs:
            raise SystemExit(f"--runs {label}: give at least one run folder after the label")
        runs = [embed(Path(d), args.data_root) for d in run_dirs]
        public = [100 * linear_probe(x, y, splits, seed=seed).test_accuracy for seed, x, y, splits in runs]
        means[label] = {"public": [statistics.mean(public)]}
        record = {
            "runs": [str(d) for d in run_dirs],
            "seeds": [r[0] for r in runs],
            "public": {"per_run": [round(a, 2) for a in public], "mean": round(statistics.mean(public), 2)},
        }
        y = runs[0][2]
        for shape in SHAPES:
            means[label][shape] = []
            for index in indices:
                split = random_split(y, shape, index)
                accs = [100 * linear_probe(x, y, split, seed=seed).test_accuracy for seed, x, _, _ in runs]
                means[label][shape].append(statistics.mean(accs))
                per_split.append(
                    {
                        "label": label,
                        "shape": shape,
                        "split": index,
                        "test_accuracy": [round(a, 2) for a in accs],
                    }
                )
            record[shape] = s = summarise(means[label][shape], record["public"]["mean"], args.reference)
            print(
                f"{label} ({len(runs)} runs): public {record['public']['mean']:.2f} | {shape} x{s['splits']}: "
                f"{s['mean']:.2f} +- {s['std']:.2f} (5-95 %: {s['percentiles']['5']:.2f}-{s['percentiles']['95']:.2f}, "
                f"max {s['max']:.2f}); public at percentile {s['public_split_percentile']}; "
                f"share >= {args.reference}: {list(s['share_at_or_above'].values())}",
                flush=True,
            )
        summary[label] = record
    first, *others = means
    differences = {f"{first} - {other}": paired_differences(means[first], means[other]) for other in others}
    for pair, d in differences.items():
        shapes = " | ".join(
            f"{shape} {d[shape]['mean']:.2f} +- {d[shape]['std']:.2f} (max {d[shape]['max']:.2f})"
            for shape in SHAPES
        )
        print(f"{pair} on the same split: public {d['public']:.2f} | {shapes}", flush=True)
    atomic_write_json(
        args.output,
        {
            "provenance": provenance(),
            "shapes": SHAPES,
            "summary": summary,
            "paired_differences": differences,
            "per_split": per_split,
        },
    )


if __name__ == "__main__":
    main()
