"""The quick cross-domain demo: one task per installed domain plugin, pretrained for a
short budget on data that ships with the dependencies, probed against the same encoder
at random initialisation. (A later version becomes ``sslcore compare --suite quick``.)"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslcore.errors import SSLCoreError, UnknownNameError
from sslcore.plugins import get_registry
from sslcore.runs import evaluate, pretrain


@dataclass(frozen=True)
class DemoRun:
    domain: str
    task: str
    dataset: str
    train: dict[str, Any] = field(default_factory=dict)


DEMO_RUNS = (
    DemoRun("vision", "simclr", "digits", {"seconds": 60, "batch_size": 256, "lr": 2e-3}),
    DemoRun("nlp", "mlm", "pydocs", {"seconds": 60, "batch_size": 64, "lr": 1e-3}),
    DemoRun("graph", "dgi", "sbm", {"steps": 100, "lr": 1e-3}),
)


def run_demo(output: str | Path = "runs/demo", budget_scale: float = 1.0) -> list[dict[str, Any]]:
    """Run :data:`DEMO_RUNS` into ``output`` and print a table of probe accuracies."""
    output = Path(output)
    registry = get_registry()
    rows: list[dict[str, Any]] = []
    for spec in DEMO_RUNS:
        try:
            task_spec = registry.task(spec.task)
            registry.dataset(spec.dataset)
        except UnknownNameError:
            print(f"[demo] skipping {spec.domain}: plugin with {spec.task!r}/{spec.dataset!r} not installed")
            continue
        run_dir = output / f"{spec.domain}-{spec.task}"
        shutil.rmtree(run_dir, ignore_errors=True)
        train = {
            k: (v * budget_scale if k in ("seconds", "steps", "epochs") else v) for k, v in spec.train.items()
        }
        if "steps" in train:
            train["steps"] = max(1, int(train["steps"]))
        print(f"[demo] {spec.domain}: pretraining {spec.task} on {spec.dataset} ({train}) ...", flush=True)
        start = time.perf_counter()
        try:
            result = pretrain(spec.task, spec.dataset, run_dir, progress_bar=False, **train)
            trained = evaluate(run_dir, "linear")
            baseline = evaluate(run_dir, "linear", random_init=True)
        except SSLCoreError as exc:
            print(f"[demo] {spec.domain} failed: {exc}")
            continue
        rows.append(
            {
                "domain": spec.domain,
                "task": spec.task,
                "paradigm": str(task_spec.paradigm),
                "dataset": spec.dataset,
                "random_init": baseline["test_accuracy"],
                "pretrained": trained["test_accuracy"],
                "steps": result.steps,
                "seconds": time.perf_counter() - start,
            }
        )
    print()
    print(format_table(rows))
    print(f"\nruns written to {output.resolve()}")
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    header = "| domain | task | paradigm | dataset | random-init probe | pretrained probe | gain | steps | seconds |"
    lines = [header, "|" + "---|" * 9]
    for r in rows:
        gain = 100 * (r["pretrained"] - r["random_init"])
        lines.append(
            f"| {r['domain']} | {r['task']} | {r['paradigm']} | {r['dataset']} | {100 * r['random_init']:.1f} % "
            f"| {100 * r['pretrained']:.1f} % | {gain:+.1f} | {r['steps']} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)
