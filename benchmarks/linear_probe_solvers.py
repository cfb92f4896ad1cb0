"""CPU time of the linear probe's two solvers (issue 22, item 5) on the full Fashion-MNIST
probe: scikit-learn's ``LogisticRegression`` against the torch L-BFGS solver
(:mod:`sslcore.evaluation.torch_linear`), both through :func:`sslcore.evaluation.linear_probe`.

    .venv/bin/python benchmarks/linear_probe_solvers.py [--width 512] [--repeats 3] [--threads 2]

Embeddings: a fixed random one-layer encoder, ``relu(pixels / 255 @ P)`` with Gaussian
``P`` ``[784, width]`` (seed 0), of all 60k train and 10k test images (the standard split; C
from ``DEFAULT_CS`` chosen on a held-out 10 % of train, subsampled to 10k fitting rows, then
refit on the 60k). Each solver runs the whole probe ``--repeats`` times; the table gives the
median wall time, the test accuracy and the chosen C. ``--threads`` caps both BLAS and torch
threads. Reads ``$SSLCORE_TEST_DATA`` (or ``../shared/data``); writes
``benchmarks/results/linear_probe_solvers.json``. The torch solver on a GPU is not timed here.
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import provenance, write_result
from threadpoolctl import threadpool_limits

from sslcore.evaluation import linear_probe
from sslcore.testing import shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results" / "linear_probe_solvers.json"
SOLVERS = ("sklearn", "torch")


def embeddings(width: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``X`` ``[70000, width]``, labels ``[70000]`` and the train / test split."""
    folder = shared_data_dir() / "fashion-mnist"

    def read(name: str, header: int) -> np.ndarray:
        return np.frombuffer(gzip.open(folder / f"{name}-ubyte.gz").read(), np.uint8, offset=header)

    pixels = np.concatenate([read(f"{p}-images-idx3", 16) for p in ("train", "t10k")]).reshape(-1, 784)
    labels = np.concatenate([read(f"{p}-labels-idx1", 8) for p in ("train", "t10k")]).astype(np.int64)
    P = np.random.default_rng(0).standard_normal((784, width)).astype(np.float32) / 28
    X = np.maximum(pixels.astype(np.float32) / 255 @ P, 0)
    return X, labels, {"train": np.arange(60_000), "test": np.arange(60_000, 70_000)}


def time_solver(solver: str, data: tuple, repeats: int) -> dict:
    """Median wall time of ``repeats`` whole probes, and the (identical) result of each."""
    seconds, results = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        results.append(linear_probe(*data, solver=solver))
        seconds.append(time.perf_counter() - start)
        print(f"{solver}: {seconds[-1]:.1f} s, {results[-1]}", flush=True)
    last = results[-1]
    return {
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "test_accuracy": 100 * last.test_accuracy,
        "selection_accuracy": 100 * last.selection_accuracy,
        "C": last.selected["C"],
        "repeatable": all(r == last for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = embeddings(args.width)
    load_before = os.getloadavg()
    with threadpool_limits(args.threads):
        rows = {solver: time_solver(solver, data, args.repeats) for solver in SOLVERS}
    record = {
        "benchmark": "linear_probe_solvers",
        "setup": {
            "rows": len(data[1]),
            "width": args.width,
            "repeats": args.repeats,
            "threads": args.threads,
        },
        "solvers": rows,
        "speedup": rows["sklearn"]["median_s"] / rows["torch"]["median_s"],
        "accuracy_gap_points": rows["torch"]["test_accuracy"] - rows["sklearn"]["test_accuracy"],
        "accepted": True,  # a measurement, not a pass/fail target
        **provenance(load_before=load_before, load_after=os.getloadavg()),
    }
    header = (
        "| solver | median s | runs (s) | test acc. (%) | selection acc. (%) | C |\n|---|---|---|---|---|---|"
    )
    table = header + "".join(
        f"\n| {name} | {r['median_s']:.1f} | {', '.join(f'{s:.1f}' for s in r['seconds'])} | "
        f"{r['test_accuracy']:.2f} | {r['selection_accuracy']:.2f} | {r['C']:g} |"
        for name, r in rows.items()
    )
    return write_result(args.output, record, table + f"\n\nspeed-up of torch: {record['speedup']:.2f}x")


if __name__ == "__main__":
    raise SystemExit(main())
