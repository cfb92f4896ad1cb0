"""Runs and grids under interrupts, crashes and concurrent use (issue 23): each test
reproduces one finding of the issue on toy tasks and asserts nothing is lost or faked."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

import sslcore.compare.runner as runner
from sslcore import Paradigm, TaskSpec, hookimpl
from sslcore.compare import parse_grid, read_results, run_grid
from sslcore.compare.runner import GridInterrupted
from sslcore.engine import CheckpointDir, TrainConfig, Trainer
from sslcore.errors import CheckpointError, ConfigError
from sslcore.io import read_jsonl
from sslcore.locks import FolderLock, FolderLockedError
from sslcore.plugins import Registry
from sslcore.runs import evaluate, pretrain
from tests import dist_train
from tests.test_runs import TRAIN, RunsPlugin
from tests.toy_tasks import AutoEncoder, make_autoencoder, random_vectors

GRID = """
[settings]
seeds = [0]
device = "cpu"
threads = 1

[[run]]
task = ["ae", "stopper"]
dataset = "vecs"
budget = {steps = 8}
train = {batch_size = 8, lr = 1e-2, checkpoint_every = 3, log_every = 2}
"""


class Stopper(AutoEncoder):
    """:class:`AutoEncoder` that sends itself ``signum`` after step ``at`` while ``armed``."""

    armed: dict[str, int] = {}

    def on_train_step_end(self, progress: float) -> None:
        self.steps = getattr(self, "steps", 0) + 1
        if self.armed.get("at") == self.steps:
            signal.raise_signal(self.armed["signum"])


class SafetyPlugin(RunsPlugin):
    @hookimpl
    def sslcore_register_tasks(self):
        return [
            TaskSpec("ae", "toy", Paradigm.GENERATIVE, AutoEncoder, default_encoder="vec"),
            TaskSpec("stopper", "toy", Paradigm.GENERATIVE, Stopper, default_encoder="vec"),
        ]


@pytest.fixture()
def registry() -> Registry:
    reg = Registry()
    reg.register(SafetyPlugin(), "safety")
    return reg


@pytest.fixture(autouse=True)
def disarmed():
    Stopper.armed.clear()
    yield
    Stopper.armed.clear()


def quiet(_: str) -> None:
    pass


def comparable(record: Any) -> Any:
    """A result record without what differs between two identical runs (times, versions)."""
    if isinstance(record, dict):
        return {k: comparable(v) for k, v in record.items() if not k.endswith("seconds") and k != "versions"}
    return record


def logged_steps(run: Path) -> list[int]:
    return [r["step"] for r in read_jsonl(run / "metrics.jsonl")]


# -- finding 1: an interrupted grid run must not be recorded as finished ----------------------
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_grid_run_is_not_recorded_and_the_rerun_resumes_it(
    registry: Registry, tmp_path: Path, signum: int
) -> None:
    grid = parse_grid(GRID)
    straight = run_grid(grid, tmp_path / "straight", registry=registry, log=quiet)
    Stopper.armed.update(at=5, signum=signum)
    with pytest.raises(GridInterrupted, match=r"stopper.*at step 5.*rerun the same command"):
        run_grid(grid, tmp_path / "grid", registry=registry, log=quiet)
    Stopper.armed.clear()
    recorded = read_results(tmp_path / "grid")
    assert [r["task"] for r in recorded] == ["ae"]  # the interrupted run has no record
    messages: list[str] = []
    again = run_grid(grid, tmp_path / "grid", registry=registry, log=messages.append)
    assert sum("finished earlier" in m for m in messages) == 1
    assert [comparable(r) for r in again] == [comparable(r) for r in straight]  # resumed exactly
    stopper = tmp_path / "grid" / "runs" / again[1]["run_id"]
    steps = logged_steps(stopper)
    assert len(steps) == len(set(steps)) and steps[-1] == 8


def test_the_cli_exits_with_the_signal_status_and_records_nothing(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sslcore.plugins.manager as manager
    from sslcore.cli import main

    monkeypatch.setattr(manager, "_DEFAULT", registry)
    (tmp_path / "grid.toml").write_text(GRID.replace('["ae", "stopper"]', '"stopper"'))
    Stopper.armed.update(at=2, signum=signal.SIGINT)
    out = tmp_path / "out"
    assert main(["compare", str(tmp_path / "grid.toml"), "--output", str(out)]) == 130
    assert read_results(out) == []


# -- finding 2: a run interrupted after its training finished goes straight to the probe ------
def test_a_run_whose_probe_was_interrupted_is_probed_on_rerun_without_training(
    registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = parse_grid(GRID.replace('["ae", "stopper"]', '"ae"'))
    straight = run_grid(grid, tmp_path / "straight", registry=registry, log=quiet)
    real_probe = runner.probe_embeddings

    def interrupted_probe(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "probe_embeddings", interrupted_probe)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, tmp_path / "grid", registry=registry, log=quiet)
    assert read_results(tmp_path / "grid") == []
    run_dir = tmp_path / "grid" / "runs" / straight[0]["run_id"]
    before = (
        (run_dir / "metrics.jsonl").read_text(),
        [p.name for p in CheckpointDir(run_dir / "checkpoints").paths()],
    )
    monkeypatch.setattr(runner, "probe_embeddings", real_probe)
    again = run_grid(grid, tmp_path / "grid", registry=registry, log=quiet)
    assert again[0]["status"] == "ok", again[0].get("error")
    assert [comparable(r) for r in again] == [comparable(r) for r in straight]
    after = (
        (run_dir / "metrics.jsonl").read_text(),
        [p.name for p in CheckpointDir(run_dir / "checkpoints").paths()],
    )
    assert after == before  # no step taken again


def test_resume_of_a_finished_run_does_nothing_and_says_so(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    first = pretrain("ae", "vecs", run, registry=registry, **TRAIN)
    log_before = (run / "metrics.jsonl").read_text()
    again = pretrain("ae", "vecs", run, resume=True, registry=registry, **TRAIN)
    assert "already completed its budget at step 4" in capsys.readouterr().err
    assert again.new_steps == 0 and again.completed and again.steps == first.steps == 4
    assert again.final_loss == first.final_loss  # not NaN: the checkpoint keeps it
    assert (run / "metrics.jsonl").read_text() == log_before


# -- finding 3: pruning by verified step order; no readable checkpoint is an error -------------
def test_pruning_keeps_the_fresh_checkpoint_and_not_a_corrupt_newer_name(tmp_path: Path) -> None:
    ckpts = CheckpointDir(tmp_path, keep=1)
    ckpts.save(50, {"model": {"w": torch.ones(2)}, "step": 50})
    (tmp_path / "step_00000100.pt").write_bytes(b"corrupt")
    fresh = ckpts.save(61, {"model": {"w": torch.zeros(2)}, "step": 61})
    assert fresh.exists() and not (tmp_path / "step_00000050.pt").exists()
    with pytest.warns(UserWarning, match="step_00000100.pt is truncated or corrupt"):
        path, state = ckpts.latest()
    assert path == fresh and state["step"] == 61


def test_checkpoints_are_ordered_by_step_number_not_by_name(tmp_path: Path) -> None:
    ckpts = CheckpointDir(tmp_path, keep=2)
    for step in (99_999_999, 100_000_000, 100_000_001):
        ckpts.save(step, {"model": {}, "step": step})
    assert [p.name for p in ckpts.paths()] == ["step_100000000.pt", "step_100000001.pt"]
    assert ckpts.latest()[1]["step"] == 100_000_001  # type: ignore[index]


def test_a_checkpoint_whose_content_disagrees_with_its_name_is_not_used(tmp_path: Path) -> None:
    ckpts = CheckpointDir(tmp_path, keep=3)
    ckpts.save(2, {"model": {}, "step": 2})
    (tmp_path / "step_00000002.pt").rename(tmp_path / "step_00000009.pt")
    with pytest.warns(UserWarning, match="holds step 2, not the step 9"):
        assert ckpts.latest() is None


def test_resume_sets_aside_unreadable_newer_checkpoints_so_pruning_keeps_good_ones(tmp_path: Path) -> None:
    cfg = dict(
        batch_size=8,
        lr=1e-2,
        device="cpu",
        progress_bar=False,
        checkpoint_every=5,
        keep_checkpoints=1,
        log_every=1,
    )
    Trainer(make_autoencoder(), TrainConfig(steps=10, **cfg), tmp_path).fit(random_vectors(16))
    good = CheckpointDir(tmp_path / "checkpoints").paths()
    assert [p.name for p in good] == ["step_00000010.pt"]
    (tmp_path / "checkpoints" / "step_00000100.pt").write_bytes(b"corrupt")  # a newer-named wreck
    with pytest.warns(UserWarning, match="moved to"):
        Trainer(make_autoencoder(), TrainConfig(steps=12, **cfg), tmp_path).fit(
            random_vectors(16), resume=True
        )
    assert [p.name for p in CheckpointDir(tmp_path / "checkpoints").paths()] == ["step_00000012.pt"]
    assert (tmp_path / "checkpoints" / "unreadable" / "step_00000100.pt").exists()
    assert logged_steps(tmp_path) == list(range(1, 13))


def test_resume_with_only_unreadable_checkpoints_is_an_error_naming_files_and_choices(
    tmp_path: Path,
) -> None:
    cfg = TrainConfig(steps=4, batch_size=8, device="cpu", progress_bar=False, log_every=1)
    Trainer(make_autoencoder(), cfg, tmp_path).fit(random_vectors(16))
    log_before = (tmp_path / "metrics.jsonl").read_text()
    (tmp_path / "checkpoints" / "step_00000004.pt").write_bytes(b"corrupt")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError) as err:
        Trainer(make_autoencoder(), cfg, tmp_path).fit(random_vectors(16), resume=True)
    message = str(err.value)
    assert "step_00000004.pt" in message and "deleting" in message and "new output folder" in message
    assert (tmp_path / "metrics.jsonl").read_text() == log_before  # nothing logged twice


def test_orphaned_temp_files_of_a_killed_write_are_removed_on_the_next_start(tmp_path: Path) -> None:
    cfg = TrainConfig(steps=4, batch_size=8, device="cpu", progress_bar=False)
    Trainer(make_autoencoder(), cfg, tmp_path).fit(random_vectors(16))
    orphans = [tmp_path / "checkpoints" / ".step_00000006.pt.k2j4x1.tmp", tmp_path / ".metrics.jsonl.a8f.tmp"]
    for orphan in orphans:
        orphan.write_bytes(b"x" * 1000)
    Trainer(
        make_autoencoder(), TrainConfig(steps=6, batch_size=8, device="cpu", progress_bar=False), tmp_path
    ).fit(random_vectors(16), resume=True)
    assert not any(orphan.exists() for orphan in orphans)


# -- finding 4: one writer per run folder -----------------------------------------------------
HOLD = """
import sys, time
from sslcore.locks import FolderLock
with FolderLock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_with_the_holders_pid_and_a_killed_holder_frees_the_folder(
    registry: Registry, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"  # type: ignore[union-attr]
        with pytest.raises(FolderLockedError, match=rf"in use by another process \(pid {holder.pid} "):
            pretrain("ae", "vecs", run, registry=registry, **TRAIN)
        assert not (run / "config.json").exists() and not (run / "metrics.jsonl").exists()
        holder.kill()  # SIGKILL: no clean-up code runs, the OS releases the lock
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    result = pretrain("ae", "vecs", run, registry=registry, **TRAIN)
    assert result.completed and result.steps == 4


def test_two_training_processes_into_one_folder_one_is_refused(tmp_path: Path) -> None:
    """Two real ``pretrain`` processes (tests/dist_train.py) into the same output folder."""
    run = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIST_TRAIN_SLEEP": "0.05"}
    args = [sys.executable, str(Path(dist_train.__file__)), "--output", str(run), "--task", "ae"]
    first = subprocess.Popen(  # long enough to outlive the second under any load: stopped below
        [*args, "--steps", "5000"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not (run / "metrics.jsonl").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        second = subprocess.run(
            [*args, "--steps", "30"], env=env, capture_output=True, text=True, timeout=120
        )
        assert first.poll() is None, "the first writer ended before the second tried"
        first.send_signal(signal.SIGTERM)  # a clean stop: checkpoint, log record, exit 143
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 128 + signal.SIGTERM, err
    assert second.returncode != 0 and f"pid {first.pid}" in second.stderr, second.stderr
    stopped = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])["steps"]
    steps = logged_steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == stopped  # one writer's log, no interleaving
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["steps"] == 5000  # the first writer's configuration


def test_a_grid_output_has_one_writer(registry: Registry, tmp_path: Path) -> None:
    with FolderLock(tmp_path / "grid", "comparison output"):
        # the same process may nest (the runner locks run folders inside its output)
        run_grid(
            parse_grid(GRID.replace('["ae", "stopper"]', '"ae"')),
            tmp_path / "grid",
            registry=registry,
            log=quiet,
        )
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "grid")], stdout=subprocess.PIPE, text=True
    )
    try:
        holder.stdout.readline()  # type: ignore[union-attr]
        with pytest.raises(FolderLockedError, match="comparison output .* in use by another process"):
            run_grid(parse_grid(GRID), tmp_path / "grid", registry=registry, log=quiet)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_evaluate_waits_for_no_one_it_refuses_while_the_run_trains(
    registry: Registry, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", run, registry=registry, **TRAIN)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        holder.stdout.readline()  # type: ignore[union-attr]
        with pytest.raises(FolderLockedError, match=f"pid {holder.pid}"):
            evaluate(run, "knn", registry=registry, ks=(3,))
    finally:
        holder.kill()
        holder.wait(timeout=30)
    assert not list(run.glob("eval_*.json"))


# -- item 4: config.json and metrics.jsonl read with errors that name file and line -----------
def test_a_broken_config_json_names_the_file_the_line_and_the_repair(
    registry: Registry, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", run, registry=registry, **TRAIN)
    text = (run / "config.json").read_text()
    (run / "config.json").write_text(text.replace('"train": {', '"train": {,', 1))
    with pytest.raises(ConfigError, match=r"config.json is not valid JSON \(line \d+, column \d+"):
        evaluate(run, "knn", registry=registry, ks=(3,))
    config = json.loads(text)
    del config["train"]
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ConfigError, match=r"config.json is not a valid run configuration: 'train' is missing"
    ):
        evaluate(run, "knn", registry=registry, ks=(3,))
    with pytest.raises(ConfigError, match="'train' is missing"):
        pretrain("ae", "vecs", run, resume=True, registry=registry, **TRAIN)


def test_a_torn_last_metrics_line_is_tolerated_on_resume_and_reported(
    registry: Registry, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    pretrain("ae", "vecs", run, registry=registry, **{**TRAIN, "log_every": 1})
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 0.')  # a crash mid-append
    with pytest.warns(UserWarning, match=r"metrics.jsonl: line 5 is incomplete"):
        pretrain("ae", "vecs", run, resume=True, registry=registry, **{**TRAIN, "steps": 6, "log_every": 1})
    assert logged_steps(run) == [1, 2, 3, 4, 5, 6]
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(ConfigError, match=r"metrics.jsonl: line 2 is not valid JSON.*delete or repair"):
        read_jsonl(run / "metrics.jsonl")


def test_remove_tree_deletes_a_folder_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    from sslcore.io import remove_tree

    entry = tmp_path / "entry"
    (entry / "sub").mkdir(parents=True)
    (entry / "sub" / "file.bin").write_bytes(b"x")
    (tmp_path / "keep.txt").write_text("kept")
    remove_tree(entry)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
    remove_tree(entry)  # already gone (another process removed it): nothing to do, no error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]
