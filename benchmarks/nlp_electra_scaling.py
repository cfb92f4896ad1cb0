"""ELECTRA vs MLM past the 15-minute budget of ``nlp_methods`` (a study for issue 5).

``benchmarks/nlp_methods.py`` pretrains every task for at most 15 CPU-minutes (the
issue's cap); there ELECTRA's probes stay below MLM's and its discriminator falls back
to the base rate. This script asks whether the order changes with more compute: it
pretrains ``--tasks`` (default MLM and ELECTRA) with exactly ``nlp_methods``' recipes,
encoder, tokenizer and data, for ``--multiples`` x the steps each task reached in
15 minutes (the mean over the seeds stored in ``--reference``), i.e. the same multiple
of CPU time per task at the throughput measured there. Budgets are step counts, so
results do not depend on machine load; each run's wall time is recorded anyway.
Each run is then probed like ``nlp_methods`` (MR, CR, MPQA, SST-2, frozen, linear) with
its random initialisation beside it. Runs go ``--jobs`` at a time in worker processes
(one thread each); each finished run is written at once to the results file
(atomically) and a rerun skips it (``--force`` reruns).

    .venv/bin/python benchmarks/nlp_electra_scaling.py [--tasks mlm electra] [--multiples 4]
        [--seeds 0] [--jobs 2] [--probes mr cr mpqa sst2]

Writes ``benchmarks/results/nlp_electra_scaling.json`` and prints a Markdown table
(the 1x row: the 15-minute runs of ``--reference`` with the same seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch
from _common import new_run_dir, provenance
from nlp_electra_plateau import quarters
from nlp_methods import DATA_ROOT, PROBES, RECIPES, add_probes, recipe, run_average, train
from threadpoolctl import threadpool_limits

from sslcore.cli import parse_assignments
from sslcore.io import atomic_write_json, read_json

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "nlp_electra_scaling.json"
REFERENCE = HERE / "results" / "nlp_methods.json"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["mlm", "electra"], choices=list(RECIPES))
    p.add_argument("--multiples", type=float, nargs="+", default=[4.0], help="x the 15-minute step counts")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--jobs", type=int, default=2, help="runs at once, one process and thread each")
    p.add_argument("--probes", nargs="+", default=list(PROBES), choices=list(PROBES))
    p.add_argument("--reference", type=Path, default=REFERENCE, help="nlp_methods results (15-minute runs)")
    p.add_argument("--data-root", type=Path, default=DATA_ROOT)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument(
        "--task-opt",
        action="append",
        metavar="KEY=VALUE",
        help="override a task option of every picked task (the run is keyed task[KEY=VALUE]/x<multiple>/<seed>; "
        "its step budget stays the task's own)",
    )
    p.add_argument(
        "--merge-from",
        type=Path,
        nargs="+",
        default=[],
        help="copy the runs of these results files (e.g. of a variant run at the same time into its own "
        "--output) into --output",
    )
    p.add_argument("--force", action="store_true")
    args = p.parse_args()
    args.task_options = parse_assignments(args.task_opt, "--task-opt")
    if any(m <= 0 for m in args.multiples) or args.jobs < 1:
        p.error("--multiples must be positive and --jobs at least 1")
    return args


def reference_steps(reference: dict[str, Any], task: str) -> float:
    """Mean steps ``task`` reached in its 15-minute ``nlp_methods`` runs."""
    steps = [e["steps"] for k, e in reference["runs"].items() if k.rsplit("/", 1)[0] == task]
    if not steps:
        raise SystemExit(f"{task!r} has no run in the reference results; run benchmarks/nlp_methods.py first")
    return statistics.mean(steps)


def scaled_run(
    task: str, seed: int, steps: int, probes: list[str], data_root: Path, task_options: dict[str, Any]
) -> dict[str, Any]:
    """Pretrain ``task`` for ``steps`` steps with its ``nlp_methods`` recipe (``task_options``
    overriding its options), then probe it."""
    torch.set_num_threads(1)
    with threadpool_limits(1):
        args = argparse.Namespace(task_options=task_options, seconds=None, steps=steps, data_root=data_root)
        run_dir = new_run_dir("nlp_electra_scaling", f"{task}-s{seed}-{steps}")
        result, logs = train(task, seed, args, run_dir)
        options, batch_size, lr = recipe(task, args)
        entry = {
            "seed": seed,
            "steps": result.steps,
            "epochs": result.epochs,
            "seconds": result.seconds,
            "logs": logs,
            "recipe": {"task_options": options, "batch_size": batch_size, "lr": lr},
            "run_dir": str(run_dir),
            "probes": {},
        }
        add_probes(entry, probes, force=False)
    add_trajectory(entry)
    return entry


def add_trajectory(entry: dict[str, Any]) -> bool:
    """For an ELECTRA run whose folder is still there: the discriminator's gain over the
    base rate, recall and generator loss per tenth of the run (``nlp_electra_plateau``'s
    measure), from its ``metrics.jsonl``; True if it was added."""
    metrics = Path(entry["run_dir"]) / "metrics.jsonl"
    if "disc_by_tenth" in entry or not metrics.is_file():
        return False
    records = [json.loads(line) for line in metrics.read_text().splitlines() if line]
    if not records or "disc_loss" not in records[0]:
        return False
    entry["disc_by_tenth"] = quarters(records, entry["steps"], parts=10)
    return True


def table(record: dict[str, Any], reference: dict[str, Any], probes: tuple[str, ...]) -> str:
    """Probe average per (task, multiple), mean over seeds, with the 15-minute row."""
    lines = [
        "| task | budget | steps | probe avg | random init | last logged MLM loss | disc. recall "
        "| disc. gain over base rate, last tenth (nats/token) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for entry in record["runs"].values():
        rows.setdefault((entry["task"], entry["multiple"]), []).append(entry)
    seeds = {e["seed"] for e in record["runs"].values()}
    for task in dict.fromkeys(e["task"] for e in record["runs"].values()):
        same = [reference["runs"][f"{task}/{s}"] for s in sorted(seeds) if f"{task}/{s}" in reference["runs"]]
        if same and (task, 1.0) not in rows:
            rows[(task, 1.0)] = same
    for (task, multiple), entries in sorted(rows.items()):
        avg = [run_average(e, "pretrained", probes) for e in entries]
        rnd = [run_average(e, "random_init", probes) for e in entries]
        last = [e["logs"]["last_logged"] for e in entries]
        recall = [x["disc_recall"] for x in last if "disc_recall" in x]
        gain = [e["disc_by_tenth"][-1]["disc_gain_nats"] for e in entries if "disc_by_tenth" in e]
        cells = [
            task,
            f"{multiple:g}x",
            f"{statistics.mean(e['steps'] for e in entries):.0f}",
            _mean(avg),
            _mean(rnd),
            f"{statistics.mean(x.get('mlm_loss', x['loss']) for x in last):.3f}",  # ELECTRA: its generator's
            f"{statistics.mean(recall):.3f}" if recall else "-",
            f"{statistics.mean(gain):.3f}" if gain and len(gain) == len(entries) else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(values: list[float | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{statistics.mean(known):.2f}" if known and len(known) == len(values) else "-"


def main() -> int:
    args = parse_args()
    reference = read_json(args.reference)
    record = read_json(args.output) if args.output.exists() else {"runs": {}}
    for path in args.merge_from:
        record["runs"].update(read_json(path)["runs"])
    # runs stored before the trajectory was recorded (list: add to every one)
    changed = any([add_trajectory(entry) for entry in record["runs"].values()]) or bool(args.merge_from)
    jobs = {}
    variant = "".join(f"[{k}={v}]" for k, v in args.task_options.items())
    for task in args.tasks:
        base = reference_steps(reference, task)
        for multiple in args.multiples:
            for seed in args.seeds:
                key = f"{task}{variant}/x{multiple:g}/{seed}"
                if key not in record["runs"] or args.force:
                    jobs[key] = (task, seed, round(multiple * base), multiple, base)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {
            pool.submit(scaled_run, task, seed, steps, args.probes, args.data_root, args.task_options): key
            for key, (task, seed, steps, _, _) in jobs.items()
        }
        for future in as_completed(futures):
            key = futures[future]
            _, _, steps, multiple, base = jobs[key]
            task = key.split("/")[0]  # with the --task-opt variant
            record["runs"][key] = {
                **future.result(),
                "task": task,
                "multiple": multiple,
                "reference_steps_15min": base,
            }
            record.update(benchmark="nlp_electra_scaling", reference=str(args.reference))
            record.update(**provenance(torch_threads=1, jobs=args.jobs))
            atomic_write_json(args.output, record)  # each finished run is kept at once
            print(f"{key}: {steps} steps done and probed", flush=True)
    if changed:  # copied runs or added trajectories, when no job ran
        atomic_write_json(args.output, record)
    probes = tuple(p for p in PROBES if p in args.probes)
    print(table(record, reference, probes))
    print(f"\nresults: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
