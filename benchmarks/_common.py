"""Shared by the benchmark scripts: machine facts, result writing, and running a
benchmark's (method, seed) pairs as an ``sslcore.compare`` grid."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sslcore.compare.grid import Grid, GridRun
from sslcore.compare.runner import GridInterrupted, run_grid
from sslcore.data import cache_dir
from sslcore.io import atomic_write_json, atomic_write_text, read_json
from sslcore.locks import FolderLockedError
from sslcore.runs import versions


def cpu_model() -> str:
    """The processor's name (Linux ``/proc/cpuinfo``, else ``platform.processor()``): a
    budget counted in CPU-seconds buys a different number of steps on another processor."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor()


def provenance(**machine: Any) -> dict[str, Any]:
    """Machine, versions and time of a benchmark record; ``machine`` adds load figures etc."""
    return {
        "machine": {"platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(), **machine},
        "versions": versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def new_run_dir(benchmark: str, name: str) -> Path:
    """A new, empty run folder ``<cache>/benchmarks/<benchmark>/<name>-<time>-<random>``:
    unique even for runs started in the same second by parallel processes."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{name}-{stamp}-", dir=cache_dir("benchmarks", benchmark)))


def finished(result: Any, run_dir: Path) -> Any:
    """``result`` of ``sslcore.runs.pretrain``, or exit with an error message if training
    stopped early on a signal: a truncated run must not be probed and recorded as done.
    Its checkpoint stays in ``run_dir``; the benchmark reruns the pair next time."""
    if result.interrupted is not None:
        raise SystemExit(
            f"training interrupted ({result.interrupted}) at step {result.steps}; nothing recorded "
            f"for this run (its checkpoint is in {run_dir}); rerun the benchmark to redo it"
        )
    return result


def write_result(path: Path, record: dict[str, Any], table: str) -> int:
    """Write ``record`` as JSON, print ``table``; exit code 0 if the record is accepted."""
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    print(table)
    print(f"\nwritten to {path}")
    return 0 if record["accepted"] else 1


def run_benchmark_grid(
    benchmark: str, runs: list[GridRun], threads: int | None, fresh: bool = False
) -> dict[str, dict[str, Any]]:
    """Run ``runs`` with :func:`sslcore.compare.run_grid` (pretrain with each task's recipe
    where a run sets nothing, probe the encoder, its random initialisation and the raw
    features) into ``<cache>/benchmarks/<benchmark>/grid``; returns the finished records
    by run id. The grid resumes: finished runs are skipped, an interrupted one continues
    from its checkpoint; ``fresh`` starts over in a new folder. A stop signal exits with
    nothing recorded for the unfinished run; failed runs stop the benchmark."""
    output = cache_dir("benchmarks", benchmark) / "grid"
    if fresh and output.exists():
        output.rename(output.with_name(f"grid-{time.strftime('%Y%m%d-%H%M%S')}"))
    grid = Grid(tuple(runs), {"device": "cpu", "threads": threads}, source="", path=benchmark)
    try:
        records = run_grid(grid, output, log=lambda line: print(line, flush=True))
    except (GridInterrupted, FolderLockedError) as exc:  # a stop signal; another process's grid
        raise SystemExit(str(exc)) from None
    wanted = {run.run_id for run in runs}
    found = {r["run_id"]: r | {"run_dir": str(output / "runs" / r["run_id"])} for r in records}
    failed = [f"{i}: {r.get('error')}" for i, r in found.items() if i in wanted and r["status"] != "ok"]
    if failed:
        raise SystemExit("runs failed (fix and rerun to retry them):\n  " + "\n  ".join(failed))
    return {i: found[i] for i in wanted}


def record_seeded_runs(
    output: Path, keys: list[tuple[str, int]], one_run: Callable[[str, int, Path], dict[str, float]]
) -> dict[str, Any]:
    """Run each ``(variant, seed)`` of ``keys`` not yet in ``output`` (``one_run(variant, seed,
    folder)`` in a temporary folder, its metrics saved atomically after each run, so an
    interrupted benchmark resumes), then add the means over seeds per variant (``means``) and
    the provenance, write ``output`` and print both. Returns the record."""
    record: dict[str, Any] = read_json(output) if output.exists() else {"runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name, seed in keys:
            key = f"{name}/{seed}"
            if key not in record["runs"]:
                record["runs"][key] = one_run(name, seed, Path(folder))
                print(key, {k: round(v, 2) for k, v in record["runs"][key].items()}, flush=True)
                atomic_write_json(output, record)
    means = {}
    for name in sorted({k.rsplit("/", 1)[0] for k in record["runs"]}):
        rows = [v for k, v in record["runs"].items() if k.rsplit("/", 1)[0] == name]
        means[name] = {m: statistics.mean(r[m] for r in rows) for m in rows[0]} | {"seeds": len(rows)}
        print(name, {m: round(v, 2) for m, v in means[name].items()})
    record.update(means=means, **provenance(torch_threads=1))
    atomic_write_json(output, record)
    return record
