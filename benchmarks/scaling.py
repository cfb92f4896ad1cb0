"""Scaling benchmark: training throughput (samples per second) with 1 and 2 processes on
CPU (torch.distributed, gloo backend) for one task per domain, launched exactly as a user
would: ``torchrun --standalone --nproc-per-node N -m sslcore pretrain ...``.

    .venv/bin/python benchmarks/scaling.py [--steps 60] [--procs 1 2] [--threads 1]

Cases (datasets that need no files): SimCLR on ``digits`` (vision), MLM on ``pydocs``
(text), DGI on ``sbm`` (graphs). ``batch_size`` is the *global* batch, so N processes
split the same work per step; samples/s is read from the run's ``metrics.jsonl`` (the
median over log windows after the first, which includes warm-up). DGI trains on one
full graph: with 2 processes each process holds a copy (no data parallelism is
possible), so its samples/s cannot scale and the ratio shows the DDP overhead.
Each process uses ``--threads`` intra-op threads (default 1), so N processes use N cores.

Writes ``benchmarks/results/scaling.json`` and prints a Markdown table. Timings depend on
the machine's load, which is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import provenance, write_result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "scaling.json"

# (domain, task, dataset, global batch size, extra CLI arguments)
CASES: list[tuple[str, str, str, int | None, list[str]]] = [
    ("vision", "simclr", "digits", 128, []),
    ("nlp", "mlm", "pydocs", 32, []),
    ("graph", "dgi", "sbm", None, []),  # full-graph training: the dataset sets batch_size=1
]


def run_case(task: str, dataset: str, batch: int | None, extra: list[str], procs: int, args: Any) -> dict:
    """One ``torchrun`` launch; returns throughput figures from its metrics log."""
    with tempfile.TemporaryDirectory(prefix="sslcore-scaling-") as tmp:
        out = Path(tmp) / "run"
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            str(procs),
            "-m",
            "sslcore",
            "pretrain",
            task,
            "--dataset",
            dataset,
            "--output",
            str(out),
            "--steps",
            str(args.steps),
            "--log-every",
            str(args.log_every),
            "--checkpoint-every",
            str(10 * args.steps),
            "--threads",
            str(args.threads),
            "--device",
            "cpu",
            "--no-progress",
            *(["--batch-size", str(batch)] if batch else []),
            *extra,
        ]
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{proc.stderr[-3000:]}")
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["samples_per_sec"] for r in records[1:]] or [records[0]["samples_per_sec"]]
    return {
        "samples_per_sec": statistics.median(rates),
        "seconds": records[-1]["elapsed"],
        "final_loss": records[-1]["loss"],
        "peak_memory_mb": max(r.get("peak_memory_mb", 0.0) for r in records),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    load_before = os.getloadavg()
    rows, results = [], []
    for domain, task, dataset, batch, extra in CASES:
        by_procs = {n: run_case(task, dataset, batch, extra, n, args) for n in args.procs}
        base = by_procs[args.procs[0]]["samples_per_sec"]
        for n, figures in by_procs.items():
            speedup = figures["samples_per_sec"] / base
            results.append(
                {
                    "domain": domain,
                    "task": task,
                    "dataset": dataset,
                    "procs": n,
                    "speedup": speedup,
                    **figures,
                }
            )
            rows.append(
                f"| {domain} | {task} | {dataset} | {n} | {figures['samples_per_sec']:.0f} | {speedup:.2f}x "
                f"| {figures['peak_memory_mb']:.0f} |"
            )
    record = {
        "benchmark": "scaling",
        "steps": args.steps,
        "threads_per_process": args.threads,
        "results": results,
        "accepted": True,  # a measurement, not a pass/fail target
        **provenance(load_before=load_before, load_after=os.getloadavg()),
    }
    header = "| domain | task | dataset | processes | samples/s | speed-up | peak MiB (rank 0) |\n|---|---|---|---|---|---|---|"
    table = (
        header + "\n" + "\n".join(rows) + f"\n\nload average before/after: {load_before} / {os.getloadavg()}"
    )
    return write_result(args.output, record, table)


if __name__ == "__main__":
    sys.exit(main())
