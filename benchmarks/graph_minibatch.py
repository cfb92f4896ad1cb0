"""Mini-batch against full-batch DGI on generated SBM graphs (issue 26): peak resident
memory and seconds per epoch, and the full-batch memory check on a graph that does not fit.

Every configuration runs ``sslcore.runs.pretrain("dgi", "sbm", ...)`` in a fresh Python
subprocess (this script with ``--child``), which reports its own peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``: the whole process, generating the graph
included) and the trainer's training seconds, counted in CPU time of the one-thread
process (``clock="cpu"``, docs/training.md), so other programs on the machine do not
inflate them:

- the graph: ``sbm`` with 10 blocks of N / 10 nodes, ``avg_degree=11`` (about 11 N directed
  edges, the within / between block ratio p_in / p_out = 10 of the defaults), 128 float32
  features, ``generator="sparse"``;
- DGI's model (the task's default ``gcn``: one GCN layer, 512 units, PReLU), Adam at a
  constant 0.001, one thread, seed 0;
- ``full``: the whole graph per step, ``--steps`` steps (default 3; one step is one epoch),
  seconds per epoch = training seconds / steps;
- ``minibatch``: ``--dataset-opt batch_nodes=1024 fanout=[10]`` (one hop for the one-layer
  encoder; the loss on the seed nodes), ``--minibatch-steps`` steps (default 30); seconds per
  epoch = training seconds / epochs done (the trainer's count, steps x 1024 / N), i.e.
  extrapolated from those steps to a whole epoch of N / 1024 batches;
- (a) ``--sizes`` (default 20,000, 100,000 and 300,000 nodes): both; (b) ``--big``
  (2,000,000 nodes, about 22 million edges): mini-batch, and (c) full batch, which must stop
  with the ``ConfigError`` of ``sslcore_graph.memory.check_full_batch_fits`` (recorded)
  rather than swap or be killed. ``--big`` runs only when more than 14 GiB is available.

Results merge into ``benchmarks/results/graph_minibatch.json`` (and ``.md``), keyed
``<mode>/<nodes>``; a rerun skips the keys already there unless ``--force``.

    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/graph_minibatch.py \\
        [--sizes 20000 100000 300000] [--steps 3] [--minibatch-steps 30] [--big] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import provenance

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "graph_minibatch.json"
BIG_NODES = 2_000_000
AVG_DEGREE = 11.0
NUM_FEATURES = 128
BATCH_NODES = 1024
FANOUT = [10]
#: (b) and (c) run only with more memory than this available (GiB)
BIG_NEEDS_GIB = 14.0


def dataset_options(nodes: int, mode: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_classes": 10,
        "nodes_per_class": nodes // 10,
        "avg_degree": AVG_DEGREE,
        "num_features": NUM_FEATURES,
        "generator": "sparse",
    }
    if mode == "minibatch":
        options |= {"batch_nodes": BATCH_NODES, "fanout": FANOUT}
    return options


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One configuration, in this (fresh) process."""
    import torch

    from sslcore.errors import ConfigError
    from sslcore.runs import pretrain

    torch.set_num_threads(1)
    out: dict[str, Any] = {"spec": spec}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        try:
            result = pretrain(
                "dgi",
                "sbm",
                run_dir,
                dataset_options=dataset_options(spec["nodes"], spec["mode"]),
                steps=spec["steps"],
                lr=0.001,
                warmup=0,
                min_lr_ratio=1.0,
                threads=1,
                clock="cpu",  # seconds of the process's CPU time: other load does not inflate them
                seed=0,
            )
            out |= {
                "steps": result.steps,
                "epochs": result.epochs,
                "train_seconds": result.seconds,
                "seconds_per_step": result.seconds / result.steps,
                "seconds_per_epoch": result.seconds / result.epochs,
                "final_loss": result.final_loss,
            }
        except ConfigError as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"
    out["wall_seconds"] = time.perf_counter() - start
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``child(spec)`` in a fresh subprocess; a crash or kill is recorded with its exit code."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ | {"OMP_NUM_THREADS": "1"},
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"spec": spec, "returncode": proc.returncode, "stderr_tail": proc.stderr[-2000:]}
    return json.loads(lines[-1]) | {"returncode": 0}


def available_gib() -> float:
    from sslcore_graph.memory import available_memory_bytes

    available = available_memory_bytes()
    return float("inf") if available is None else available / 2**30


def estimate_gib(nodes: int) -> float:
    """``estimate_full_batch_bytes`` for the expected edge count (DGI: 2 passes, ``gcn`` 512)."""
    from sslcore_graph.memory import estimate_full_batch_bytes

    edges = int(nodes * AVG_DEGREE)
    return estimate_full_batch_bytes(nodes, edges, NUM_FEATURES, [512], [0], passes=2) / 2**30


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"DGI (gcn 1 x 512) on `sbm` (10 blocks, avg_degree {AVG_DEGREE:g}, {NUM_FEATURES} features), "
        f"one thread; mini-batch: batch_nodes={BATCH_NODES}, fanout={FANOUT}.",
        "",
        "| nodes | edges (expected) | mode | steps run | peak RSS (GiB) | CPU s / step | CPU s / epoch | "
        "full-batch estimate (GiB) | note |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    runs = record["runs"]
    for key in sorted(runs, key=lambda k: (int(k.split("/")[1]), k.split("/")[0])):
        r = runs[key]
        mode, nodes = key.split("/")
        n = int(nodes)
        est = f"{estimate_gib(n):.1f}" if mode == "full" else ""
        if "seconds_per_epoch" in r:
            note = "epoch extrapolated from the steps run" if mode == "minibatch" else ""
            lines.append(
                f"| {n:,} | {int(n * AVG_DEGREE):,} | {mode} | {r['steps']} | {r['peak_rss_bytes'] / 2**30:.2f} "
                f"| {r['seconds_per_step']:.2f} | {r['seconds_per_epoch']:.1f} | {est} | {note} |"
            )
        else:
            what = r.get("error") or f"exit code {r.get('returncode')}"
            peak = f"{r['peak_rss_bytes'] / 2**30:.2f}" if "peak_rss_bytes" in r else ""
            lines.append(f"| {n:,} | {int(n * AVG_DEGREE):,} | {mode} | 0 | {peak} | | | {est} | {what} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="*", default=[20_000, 100_000, 300_000])
    p.add_argument("--steps", type=int, default=3, help="full-batch steps (= epochs)")
    p.add_argument("--minibatch-steps", type=int, default=30)
    p.add_argument("--big", action="store_true", help=f"also (b) and (c) on {BIG_NODES:,} nodes")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per configuration")
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--force", action="store_true", help="rerun configurations already in the results")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))), flush=True)
        return 0

    record = json.loads(args.output.read_text()) if args.output.exists() else {"runs": {}}
    todo = [(mode, n, args.steps if mode == "full" else args.minibatch_steps)
            for n in args.sizes for mode in ("full", "minibatch")]  # fmt: skip
    if args.big:
        if available_gib() <= BIG_NEEDS_GIB:
            raise SystemExit(f"--big needs > {BIG_NEEDS_GIB} GiB available, {available_gib():.1f} GiB is")
        todo += [("full", BIG_NODES, args.steps), ("minibatch", BIG_NODES, args.minibatch_steps)]
    for mode, nodes, steps in todo:
        key = f"{mode}/{nodes}"
        if key in record["runs"] and not args.force:
            continue
        print(f"{key}: {steps} steps ...", flush=True)
        result = run_child({"mode": mode, "nodes": nodes, "steps": steps}, args.timeout)
        result["available_gib_before"] = available_gib()
        if args.output.exists():  # merge with what another invocation wrote meanwhile
            record["runs"] = json.loads(args.output.read_text())["runs"] | record["runs"]
        record["runs"][key] = result
        print(json.dumps({k: v for k, v in result.items() if k != "stderr_tail"}), flush=True)
        record.update(
            benchmark="graph_minibatch", **provenance(torch_threads=1, load_average=os.getloadavg())
        )
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(record, indent=2) + "\n")  # after every run: resumable
    table = markdown(record)
    args.output.with_suffix(".md").write_text(table + "\n")
    print(table)
    print(f"\nwritten to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
