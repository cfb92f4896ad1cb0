"""How much the core ``linear`` probe's number depends on its C grid: the same finished runs
probed with the default grid (one value per decade, 0.01 ... 10) and with denser or wider
ones, C chosen on the validation rows each time (test accuracy reported, as the protocol).

It trains nothing: it embeds the frozen encoders of finished run folders, e.g. those of
``benchmarks/graph_methods.py``'s grid (``<cache>/benchmarks/graph_methods/grid/runs/``):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/probe_grids.py \\
        "$SSLCORE_CACHE"/benchmarks/graph_methods/grid/runs/graphmae-cora-default-recipe-seed* \\
        [--data-root DIR] [--output FILE]

Writes ``benchmarks/results/probe_grids.json`` (one record per run and grid) and prints a
line per run and the mean per (task, grid).
"""

from __future__ import annotations

import argparse
import statistics
from collections import defaultdict
from pathlib import Path

import torch
from _common import provenance

from sslcore.evaluation import extract_embeddings, linear_probe
from sslcore.evaluation.linear import DEFAULT_CS
from sslcore.io import atomic_write_json
from sslcore.runs import load_run

DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results" / "probe_grids.json"
GRIDS: dict[str, tuple[float, ...]] = {
    "default": DEFAULT_CS,
    "down to 1e-3": (1e-3, *DEFAULT_CS),
    "half decades from 1e-3": (1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", type=Path, nargs="+", help="finished run folders")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(1)
    records = []
    for run_dir in args.runs:
        task, bundle, run = load_run(run_dir, args.data_root)
        if bundle.evaluation is None or bundle.evaluation.splits is None:
            raise SystemExit(
                f"{run_dir}: its dataset has no labelled train / validation / test split to probe"
            )
        x, y = extract_embeddings(task, bundle.evaluation, torch.device("cpu"))
        seed = run["train"]["seed"]
        line = []
        for name, cs in GRIDS.items():
            result = linear_probe(x, y, bundle.evaluation.splits, seed=seed, Cs=cs)
            records.append(
                {
                    "run": run_dir.name,
                    "task": run["task"],
                    "seed": seed,
                    "grid": name,
                    "Cs": list(cs),
                    "C": result.selected["C"],
                    "val_accuracy": round(result.selection_accuracy * 100, 2),
                    "test_accuracy": round(result.test_accuracy * 100, 2),
                }
            )
            line.append(f"{name}: {records[-1]['test_accuracy']:.1f} (C={result.selected['C']:g})")
        print(run["task"], f"seed {seed}:", " | ".join(line), flush=True)
    means: dict[str, list[float]] = defaultdict(list)
    for r in records:
        means[f"{r['task']} / {r['grid']}"].append(r["test_accuracy"])
    summary = {k: {"runs": len(v), "mean": round(statistics.mean(v), 2)} for k, v in means.items()}
    for key, s in summary.items():
        print(f"{key}: {s['mean']:.2f} over {s['runs']} runs")
    atomic_write_json(
        args.output, {"provenance": provenance(), "grids": GRIDS, "records": records, "means": summary}
    )


if __name__ == "__main__":
    main()
