"""Fault injection (issue 23): SIGINT, SIGTERM and SIGKILL at random points of training,
checkpoint writing, probing and grid bookkeeping, then reruns until the grid completes.

Each case runs the two-run toy grid of tests/fault_grid.py in processes forked from a
forkserver, interrupts it once or twice at a randomly drawn hit of a randomly drawn site,
reruns it cleanly, and asserts, against one uninterrupted run of the same grid:

- after every attempt, every recorded result is the uninterrupted run's record (no result
  for unfinished work, nothing faked) and no step is logged twice;
- a record, once written, is never lost or changed by later attempts;
- at the end the results, the logged steps and the final weights are bit-identical to the
  uninterrupted run's, and no temporary file of a killed write is left.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from sslcore.compare import read_results
from sslcore.engine import CheckpointDir
from sslcore.io import read_jsonl
from tests import fault_grid
from tests.test_run_safety import comparable

CASES = 56  # with a second fault in about a third of them: > 70 interruptions
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def draw_faults(case: int) -> list[dict[str, Any]]:
    """One or two faults as (site, fraction of that site's hits in a clean run, signal)."""
    rng = random.Random(2023 + case)
    count = 2 if rng.random() < 0.35 else 1
    return [
        {"site": rng.choice(fault_grid.SITES), "fraction": rng.random(), "signal": int(rng.choice(SIGNALS))}
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def forks() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(
        ["torch", "torch._dynamo", "sklearn.neighbors", "sslcore.compare", "tests.fault_grid"]
    )
    return context


def attempt(forks: Any, output: Path, fault: dict[str, Any] | None = None, counts: Path | None = None) -> int:
    process = forks.Process(
        target=fault_grid.attempt, args=(str(output), fault, str(counts) if counts else None)
    )
    process.start()
    process.join(timeout=120)
    if process.is_alive():
        process.kill()
        pytest.fail(f"attempt with {fault} hung")
    return process.exitcode


def state(output: Path) -> dict[str, Any]:
    """What a grid output holds: records without timings, logged steps and final weights per run."""
    records = {r["run_id"]: comparable(r) for r in read_results(output)}
    runs = {}
    for run in sorted((output / "runs").glob("*")) if (output / "runs").is_dir() else []:
        log = run / "metrics.jsonl"
        latest = CheckpointDir(run / "checkpoints").latest()
        runs[run.name] = {
            "steps": [r["step"] for r in read_jsonl(log)] if log.exists() else [],
            "weights": latest[1]["model"] if latest else None,
        }
    return {"records": records, "runs": runs}


@pytest.fixture(scope="module")
def clean(forks: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    output = tmp_path_factory.mktemp("clean")
    counts = output.parent / "counts.json"
    assert attempt(forks, output, counts=counts) == 0
    reference = state(output)
    assert len(reference["records"]) == 2 and all(r["status"] == "ok" for r in reference["records"].values())
    return {"state": reference, "hits": json.loads(counts.read_text())}


def assert_consistent(output: Path, reference: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    now = state(output)
    for run_id, record in now["records"].items():
        assert record == reference["records"][run_id], f"recorded result of {run_id} differs from a clean run"
        assert kept.get(run_id, record) == record, f"record of {run_id} changed after it was written"
    assert set(kept) <= set(now["records"]), "a written record was lost"
    for run_id, run in now["runs"].items():
        assert run["steps"] == sorted(set(run["steps"])), f"{run_id} logged a step twice: {run['steps']}"
    return now


@pytest.mark.parametrize("case", range(CASES))
def test_an_interrupted_grid_completes_like_an_uninterrupted_one(
    case: int, forks: Any, clean: dict[str, Any], tmp_path: Path
) -> None:
    reference, hits = clean["state"], clean["hits"]
    output = tmp_path / "grid"
    kept: dict[str, Any] = {}
    for n, drawn in enumerate(draw_faults(case)):
        fault = {**drawn, "at": 1 + int(drawn["fraction"] * hits[drawn["site"]])}
        code = attempt(forks, output, fault)
        if n == 0:  # the first attempt follows the clean run's path, so the fault fires
            assert code != 0, f"{fault} did not interrupt the grid"
        assert code in (0, 130, -signal.SIGTERM, -signal.SIGKILL), f"{fault}: exit status {code}"
        kept = assert_consistent(output, reference, kept)["records"]
    for _ in range(3):  # a clean rerun completes (one more if a fault hit the last record)
        if attempt(forks, output) == 0:
            break
    final = assert_consistent(output, reference, kept)
    assert final["records"] == reference["records"]
    for run_id, run in final["runs"].items():  # a clean stop adds one log record where it stopped
        assert set(reference["runs"][run_id]["steps"]) <= set(run["steps"])
        assert run["steps"][-1] == fault_grid.STEPS
    for run_id, run in final["runs"].items():
        expected = reference["runs"][run_id]["weights"]
        assert run["weights"].keys() == expected.keys()
        for key, value in expected.items():
            assert torch.equal(run["weights"][key], value), f"{run_id}: {key} differs from a clean run"
    leftovers = [p for p in output.rglob(".*.tmp")]
    assert not leftovers, f"temporary files of killed writes left behind: {leftovers}"
