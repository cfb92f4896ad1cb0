"""Multi-process training on CPU through PyTorch's own launcher: ``torchrun`` (``python -m
torch.distributed.run``) starts 2 gloo processes that run :mod:`tests.dist_train`.

- The 2-process run reproduces the single-process loss curve and weights (NT-Xent over
  the global batch, gathered across ranks; each rank reads half of every batch).
- ``--max-restarts 1``: a worker killed with SIGKILL mid-run is restarted and the run
  resumes from the last checkpoint (no step lost beyond the checkpoint interval).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from sslcore.engine import CheckpointDir
from tests import dist_train

SCRIPT = Path(dist_train.__file__)
ROOT = SCRIPT.parents[1]


def run_torchrun(output: Path, *args: str, restarts: int = 0) -> dict:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        str(restarts),
        str(SCRIPT),
        "--output",
        str(output),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, proc.stdout  # only rank 0 reports
    return json.loads(lines[0].removeprefix("RESULT "))


def single_process(output: Path, *args: str) -> None:
    assert dist_train.main(["--output", str(output), *args]) == 0


def log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def final_weights(run: Path) -> dict[str, torch.Tensor]:
    found = CheckpointDir(run / "checkpoints").latest()
    assert found is not None
    return found[1]["model"]


def assert_same_curve(a: Path, b: Path) -> None:
    la, lb = log(a), log(b)
    assert [r["step"] for r in la] == [r["step"] for r in lb] == list(range(1, 21))
    for ra, rb in zip(la, lb):
        assert rb["loss"] == pytest.approx(ra["loss"], rel=1e-4, abs=1e-5), ra["step"]
        assert rb["lr"] == pytest.approx(ra["lr"], rel=1e-9)
    wa, wb = final_weights(a), final_weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5)


def test_two_gloo_processes_reproduce_the_single_process_loss_curve(tmp_path: Path) -> None:
    args = ("--task", "contrast", "--steps", "20", "--batch-size", "8")
    single_process(tmp_path / "one", *args)
    result = run_torchrun(tmp_path / "two", *args)
    assert (result["world_size"], result["steps"], result["samples"]) == (2, 20, 160)
    assert_same_curve(tmp_path / "one", tmp_path / "two")
    # rank 0 alone wrote the run files (and held the folder's lock)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        ".sslcore.lock",
        "checkpoints",
        "config.json",
        "metrics.jsonl",
    ]
    state = CheckpointDir(tmp_path / "two" / "checkpoints").latest()[1]  # type: ignore[index]
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    assert state["data"]["global_batch"] == 8


def test_two_gloo_processes_stop_early_where_one_process_does(tmp_path: Path) -> None:
    """Early stopping reads the loss averaged over the ranks, so both stop at one step, at
    the single-process run's step, and end at the same lowest-loss weights."""
    args = ("--task", "contrast", "--steps", "60", "--batch-size", "8", "--patience", "3")
    single_process(tmp_path / "one", *args)
    one = log(tmp_path / "one")[-1]["step"]
    result = run_torchrun(tmp_path / "two", *args)
    assert result["steps"] == one < 60 and result["stopped_early"] is not None
    wa, wb = final_weights(tmp_path / "one"), final_weights(tmp_path / "two")
    for key in wa:
        torch.testing.assert_close(wb[key], wa[key], rtol=1e-4, atol=1e-5)


def test_elastic_restart_resumes_from_the_last_checkpoint(tmp_path: Path) -> None:
    """The last rank is killed (SIGKILL) after step 12 of the first attempt; checkpoints
    every 5 steps: torchrun restarts both workers and they continue from step 10."""
    args = ("--task", "ae", "--steps", "20", "--checkpoint-every", "5")
    single_process(tmp_path / "one", *args)
    result = run_torchrun(tmp_path / "two", *args, "--kill-at", "12", restarts=1)
    assert result["first_step"] == 11  # the restarted attempt's first step: right after step 10
    assert (result["steps"], result["samples"]) == (20, 160)
    # the log lines of steps 11-12 written before the kill were replaced: each step once
    assert_same_curve(tmp_path / "one", tmp_path / "two")
