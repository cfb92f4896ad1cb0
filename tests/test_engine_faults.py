"""The engine under faults and at scale, in one process: stop signals, NaN policy,
precision errors, checkpoint contents, per-rank sharding, elastic auto-resume, logs."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import sslcore.engine.trainer as trainer_module
from sslcore import TaskOutput
from sslcore.contrast import nt_xent
from sslcore.contrast.distributed import ddp_step, use_global
from sslcore.engine import CheckpointDir, TrainConfig, Trainer, load_checkpoint
from sslcore.engine import distributed as ddp
from sslcore.engine.observability import tensorboard_available
from sslcore.engine.sampler import ResumableRandomSampler
from sslcore.errors import ConfigError
from tests import dist_train
from tests.toy_tasks import AutoEncoder, VectorEncoder, make_autoencoder, make_contrast, random_vectors

SCRIPT = Path(dist_train.__file__)


def config(**overrides) -> TrainConfig:
    values = dict(batch_size=8, lr=1e-2, warmup=0.0, device="cpu", progress_bar=False, log_every=1)
    values.update(overrides)
    return TrainConfig(**values)


def log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# -- stop signals ------------------------------------------------------------------------------
def test_sigterm_saves_a_checkpoint_exits_cleanly_and_the_run_resumes(tmp_path: Path) -> None:
    """A real SIGTERM sent to a training subprocess: exit code 143 after a checkpoint of
    the step it stopped at; resuming it ends where an uninterrupted run ends."""
    run = tmp_path / "run"
    args = ["--task", "ae", "--steps", "200", "--checkpoint-every", "1000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DIST_TRAIN_SLEEP": "0.05"}
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--output", str(run), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        metrics = run / "metrics.jsonl"
        while not (metrics.exists() and len(metrics.read_text().splitlines()) >= 3):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
    assert result["interrupted"] == "SIGTERM" and 3 <= result["steps"] < 200
    stopped = result["steps"]
    assert [int(p.stem[5:]) for p in CheckpointDir(run / "checkpoints").paths()] == [stopped]
    assert log(run)[-1]["step"] == stopped

    assert dist_train.main(["--output", str(run), *args, "--resume"]) == 0
    dist_train.main(["--output", str(tmp_path / "straight"), *args])
    resumed, straight = (CheckpointDir(r / "checkpoints").latest()[1] for r in (run, tmp_path / "straight"))  # type: ignore[index]
    assert resumed["step"] == straight["step"] == 200
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, rtol=0, atol=1e-6)
    assert [r["step"] for r in log(run)] == list(range(1, 201))


class RaisesSignalAt(AutoEncoder):
    def __init__(self, encoder: nn.Module, at: int, signum: int):
        super().__init__(encoder)
        self.at, self.signum, self.calls = at, signum, 0

    def on_train_step_end(self, progress: float) -> None:
        self.calls += 1
        if self.calls == self.at:
            signal.raise_signal(self.signum)


def test_sigint_stops_after_the_step_with_a_checkpoint_and_restores_the_handler(tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    torch.manual_seed(0)
    task = RaisesSignalAt(VectorEncoder(), at=3, signum=signal.SIGINT)
    result = Trainer(task, config(steps=50, checkpoint_every=1000), tmp_path).fit(random_vectors(32))
    assert (result.interrupted, result.steps) == ("SIGINT", 3)
    assert result.checkpoint == tmp_path / "checkpoints" / "step_00000003.pt"
    assert load_checkpoint(result.checkpoint)["step"] == 3
    assert signal.getsignal(signal.SIGINT) is before


# -- NaN policy ----------------------------------------------------------------------------------
class NaNAt(AutoEncoder):
    def __init__(self, encoder: nn.Module, bad_at: int):
        super().__init__(encoder)
        self.bad_at, self.calls, self.snapshots = bad_at, 0, {}

    def forward(self, batch):
        self.calls += 1
        out = super().forward(batch)
        return TaskOutput(out.loss * float("nan")) if self.calls == self.bad_at else out

    def on_train_step_end(self, progress: float) -> None:
        self.snapshots[self.calls] = weights(self)


def test_nan_policy_skip_skips_the_step_and_continues(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = NaNAt(VectorEncoder(), bad_at=4)
    result = Trainer(task, config(steps=8, nan_policy="skip"), tmp_path).fit(random_vectors(32))
    assert (result.steps, result.skipped_steps) == (8, 1)
    assert math.isfinite(result.final_loss)
    for key, value in task.snapshots[3].items():  # the skipped step left the weights alone
        assert torch.equal(task.snapshots[4][key], value)
    assert any(not torch.equal(task.snapshots[5][k], v) for k, v in task.snapshots[4].items())
    records = log(tmp_path)
    assert records[3]["skipped_steps"] == 1 and math.isnan(records[3]["loss"])
    assert all("skipped_steps" not in r and math.isfinite(r["loss"]) for i, r in enumerate(records) if i != 3)
    assert load_checkpoint(result.checkpoint)["skipped_steps"] == 1  # type: ignore[arg-type]


# -- precision -------------------------------------------------------------------------------------
def test_fp16_on_cpu_is_a_clear_error_before_training() -> None:
    with pytest.raises(ConfigError, match="precision 'fp16' needs CUDA.*use precision 'bf16' on CPU"):
        Trainer(make_autoencoder(), config(steps=1, precision="fp16"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 loss scaling needs CUDA")
def test_fp16_with_loss_scaling_on_cuda(tmp_path: Path) -> None:
    result = Trainer(make_autoencoder(), config(steps=4, precision="fp16", device="cuda"), tmp_path).fit(
        random_vectors(32)
    )
    assert math.isfinite(result.final_loss)
    assert "model" in load_checkpoint(result.checkpoint)["scalers"]  # type: ignore[arg-type]


# -- what a checkpoint records -------------------------------------------------------------------
def test_checkpoint_records_config_versions_rng_and_data_position(tmp_path: Path) -> None:
    cfg = config(steps=6, checkpoint_every=6)
    Trainer(make_autoencoder(), cfg, tmp_path, run_info={"versions": {"sslcore-toy": "9.9"}}).fit(
        random_vectors(36)
    )
    state = load_checkpoint(tmp_path / "checkpoints" / "step_00000006.pt")  # weights_only=True
    assert state["config"] == cfg.to_dict()
    assert {"python", "torch", "sslcore"} <= state["versions"].keys()
    assert state["versions"]["sslcore-toy"] == "9.9"
    # 36 samples, batches of 8: 4 steps per epoch, so after 6 steps: epoch 1, position 16
    assert state["data"] == {"epoch": 1, "position": 16, "global_batch": 8, "seed": cfg.seed}
    assert state["world_size"] == 1 and len(state["rng_ranks"]) == 1
    assert set(state["rng"]) >= {"python", "numpy", "torch"}


def test_resume_with_another_batch_size_is_refused(tmp_path: Path) -> None:
    Trainer(make_autoencoder(), config(steps=4, checkpoint_every=2), tmp_path).fit(random_vectors(36))
    with pytest.raises(Exception, match="global batch of 8 samples, this run uses 4"):
        Trainer(make_autoencoder(), config(steps=8, batch_size=4), tmp_path).fit(
            random_vectors(36), resume=True
        )


# -- logs --------------------------------------------------------------------------------------------
def test_log_records_throughput_and_peak_memory(tmp_path: Path) -> None:
    Trainer(make_contrast(), config(steps=3), tmp_path).fit(random_vectors(16))
    for record in log(tmp_path):
        assert record["samples_per_sec"] > 0
        assert record["peak_memory_mb"] > 10  # at least the interpreter and torch


class FakeTensorBoard:
    instances: list[FakeTensorBoard] = []

    def __init__(self, folder: Path, purge_step: int | None = None):
        self.folder, self.purge_step, self.records, self.closed = folder, purge_step, [], False
        FakeTensorBoard.instances.append(self)

    def write(self, record: dict) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed = True


def test_tensorboard_gets_every_log_record_and_purges_on_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer_module, "TensorBoardLog", FakeTensorBoard)
    monkeypatch.setattr(trainer_module, "check_tensorboard", lambda: None)
    FakeTensorBoard.instances = []
    Trainer(make_autoencoder(), config(steps=4, checkpoint_every=2, tensorboard=True), tmp_path).fit(
        random_vectors(16)
    )
    Trainer(make_autoencoder(), config(steps=6, tensorboard=True), tmp_path).fit(
        random_vectors(16), resume=True
    )
    first, second = FakeTensorBoard.instances
    assert first.folder == second.folder == tmp_path / "tensorboard"
    assert [r["step"] for r in first.records] == [1, 2, 3, 4] and first.closed
    assert second.purge_step == 5 and [r["step"] for r in second.records] == [5, 6] and second.closed


def test_tensorboard_without_the_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sslcore.engine.observability as observability

    monkeypatch.setattr(observability, "tensorboard_available", lambda: False)
    with pytest.raises(ConfigError, match="pip install tensorboard"):
        Trainer(make_autoencoder(), config(steps=1, tensorboard=True), tmp_path)


@pytest.mark.skipif(not tensorboard_available(), reason="tensorboard is not installed")
def test_tensorboard_event_files_beside_the_jsonl_log(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Trainer(make_autoencoder(), config(steps=4, log_every=1, tensorboard=True), tmp_path).fit(
        random_vectors(16)
    )
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = events.Scalars("train/loss")
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [e.step for e in losses] == [r["step"] for r in logged] == [1, 2, 3, 4]
    assert [e.value for e in losses] == pytest.approx([r["loss"] for r in logged])


# -- sharding ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "batch", "world"), [(36, 8, 2), (36, 12, 4), (40, 8, 2), (8, 16, 2), (6, 6, 3), (1, 1, 2)]
)
@pytest.mark.parametrize("start_batch", [0, 2])
def test_rank_shards_make_up_the_single_process_global_batches(
    n: int, batch: int, world: int, start_batch: int
) -> None:
    drop = n > batch
    effective = min(batch, n)
    start = start_batch * effective if drop else 0
    one = ResumableRandomSampler(n, seed=5, global_batch=effective, drop_last_global=drop)
    one.set_position(epoch=2, start=start)
    order = list(one)
    ranks = []
    for r in range(world):
        s = ResumableRandomSampler(
            n, 5, rank=r, world_size=world, global_batch=effective, drop_last_global=drop
        )
        s.set_position(epoch=2, start=start)
        ranks.append(list(s))
        assert len(s) == len(ranks[-1])
    local = effective // world if drop else math.ceil(effective / world)
    steps = math.ceil(len(ranks[0]) / local)
    assert all(math.ceil(len(r) / local) == steps for r in ranks)  # every rank takes as many steps
    for k in range(steps):
        union = [i for r in ranks for i in r[k * local : (k + 1) * local]]
        expected = order[k * effective : (k + 1) * effective]
        if effective % world == 0:  # an exact partition of the global batch
            assert sorted(union) == sorted(expected)
        else:  # padded by wrapping around, like DistributedSampler
            assert set(union) == set(expected) and len(union) == local * world


def test_global_batch_must_split_evenly_over_the_processes() -> None:
    trainer = Trainer(make_autoencoder(), config(steps=1))
    with pytest.raises(
        ConfigError, match="batch_size=8 is the global batch and must be divisible by .* \\(3\\)"
    ):
        trainer._loader(random_vectors(36), 8, rank=0, world=3)
    with pytest.warns(UserWarning, match="a batch of 2 sample\\(s\\) does not split over 4 processes"):
        loaders = [trainer._loader(random_vectors(2), 8, rank=r, world=4)[0] for r in range(4)]
    # each rank gets one copy-padded batch of one sample: 0, 1, 0, 1 of the epoch's order
    firsts = [next(iter(loader.sampler)) for loader in loaders]
    assert sorted(firsts) == [0, 0, 1, 1] and all(len(loader) == 1 for loader in loaders)


# -- distributed switches without a process group -------------------------------------------------
def test_kernels_are_local_without_a_process_group_even_in_a_ddp_step() -> None:
    a, b = random_vectors(6), random_vectors(6, seed=1)
    z1, z2 = torch.stack(a), torch.stack(b)
    with ddp_step():
        assert not use_global(None) and not use_global(True)
        torch.testing.assert_close(nt_xent(z1, z2, 0.5), nt_xent(z1, z2, 0.5, distributed=False))


def test_sync_batchnorm_conversion_and_its_cpu_error(monkeypatch: pytest.MonkeyPatch) -> None:
    class WithNorm(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))

    module = WithNorm()
    weight = module.body[1].weight
    ddp.convert_sync_batchnorm(module)
    assert isinstance(module.body[1], nn.SyncBatchNorm) and module.body[1].weight is weight
    monkeypatch.setattr(ddp, "world_size", lambda: 2)
    with pytest.raises(ConfigError, match="sync_batchnorm needs CUDA"):
        ddp.check_sync_batchnorm(torch.device("cpu"))


def test_init_from_env_is_a_no_op_for_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ddp.init_from_env("cpu") is False and not ddp.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match="launch with `torchrun --nproc-per-node N"):
        ddp.init_from_env("cpu")


# -- elastic restart: automatic resume -----------------------------------------------------------------
def test_a_torchrun_restart_resumes_the_run_without_the_resume_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def train(steps: int) -> int:
        args = ["--task", "ae", "--steps", str(steps), "--checkpoint-every", "5"]
        return dist_train.main(["--output", str(tmp_path / "run"), *args])

    assert train(10) == 0
    with pytest.raises(ConfigError, match="already holds a run"):
        train(12)
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    assert train(12) == 0
    assert [r["step"] for r in log(tmp_path / "run")] == list(range(1, 13))
