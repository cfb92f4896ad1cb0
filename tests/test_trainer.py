"""The training engine on toy tasks: budgets, logs, checkpoints, exact resume, failures."""

from __future__ import annotations

import contextlib
import json
import math
import os
import pickle
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

import sslcore.engine.trainer as trainer_module
from sslcore import ConfigError, NonFiniteLossError, TaskOutput
from sslcore.data import IndexedDataset
from sslcore.engine import CheckpointDir, TrainConfig, Trainer, load_checkpoint, save_checkpoint
from sslcore.engine.schedule import warmup_cosine
from sslcore.engine.trainer import make_optimizer
from sslcore.errors import CheckpointError
from sslcore.io import atomic_write, atomic_write_json, read_json
from tests.toy_tasks import (
    AutoEncoder,
    IndexedAutoEncoder,
    NoisyViewsContrast,
    VectorEncoder,
    make_autoencoder,
    make_contrast,
    make_gan,
    random_vectors,
)


def config(**overrides) -> TrainConfig:
    values = dict(
        batch_size=8,
        lr=1e-2,
        warmup=0.0,
        device="cpu",
        progress_bar=False,
        log_every=1,
        checkpoint_every=1000,
    )
    values.update(overrides)
    return TrainConfig(**values)


def log_records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def checkpoint_steps(run: Path) -> list[int]:
    return [int(p.stem.split("_")[1]) for p in CheckpointDir(run / "checkpoints").paths()]


def params(task: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in task.state_dict().items()}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@contextlib.contextmanager
def optimizer_steps():
    """Record, for every optimiser step, the optimiser and the gradient norm it stepped with."""
    steps: list[dict] = []

    def pre(opt, args, kwargs):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads])) if grads else 0.0
        steps.append({"optimizer": opt, "grad_norm": float(norm)})

    handles = [register_optimizer_step_pre_hook(pre)]
    try:
        yield steps
    finally:
        for h in handles:
            h.remove()


# -- it learns ----------------------------------------------------------------------------
def test_autoencoder_loss_decreases() -> None:
    data = random_vectors(64, seed=1)
    task = make_autoencoder(seed=0)
    full = torch.stack(data)
    with torch.no_grad():
        before = float(task(full).loss)
    result = Trainer(task, config(steps=150, batch_size=16, lr=3e-2)).fit(data)
    with torch.no_grad():
        after = float(task(full).loss)
    assert result.steps == 150
    assert after < 0.6 * before
    assert math.isfinite(result.final_loss)


def test_contrastive_loss_decreases() -> None:
    data = random_vectors(32, seed=2)
    task = make_contrast(seed=0, temperature=0.2)

    def loss() -> float:
        torch.manual_seed(123)
        with torch.no_grad():
            return float(task(task.collate(data)).loss)

    before = loss()
    Trainer(task, config(steps=50, batch_size=16, lr=3e-2)).fit(data)
    assert loss() < before - 0.5


# -- budgets --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n", "budget", "steps", "samples"),
    [
        (40, {"steps": 7}, 7, 56),
        (40, {"epochs": 2}, 10, 80),  # 5 batches per epoch
        (40, {"epochs": 0.5}, 3, 24),  # ceil(2.5)
        (43, {"epochs": 2}, 10, 80),  # the last 3 samples of each epoch are dropped
        (5, {"epochs": 3}, 3, 15),  # fewer samples than batch_size: one batch of 5 per epoch
        (40, {"epochs": 2, "steps": 4}, 4, 32),  # whichever is reached first
        (40, {"epochs": 1, "steps": 400}, 5, 40),
    ],
)
def test_step_and_epoch_budgets(n: int, budget: dict, steps: int, samples: int) -> None:
    result = Trainer(make_autoencoder(), config(**budget)).fit(random_vectors(n))
    assert (result.steps, result.samples) == (steps, samples)
    assert [r["step"] for r in result.history] == list(range(1, steps + 1))


def test_seconds_budget_stops_before_a_huge_step_budget() -> None:
    result = Trainer(make_autoencoder(), config(seconds=0.2, steps=10**9, log_every=10**6)).fit(
        random_vectors(16)
    )
    assert 1 <= result.steps < 10**9
    # the loop stopped because of the time budget, and logged its last step
    assert result.history[-1]["step"] == result.steps and result.history[-1]["elapsed"] >= 0.2


def test_seconds_only_budget_drives_the_schedule_progress() -> None:
    progress: list[float] = []

    class Watching(AutoEncoder):
        def on_train_step_end(self, p: float) -> None:
            progress.append(p)

    result = Trainer(Watching(VectorEncoder()), config(seconds=0.1, log_every=10**6)).fit(random_vectors(16))
    assert result.steps == len(progress) >= 1
    assert all(0 <= a <= b <= 1 for a, b in zip(progress, progress[1:]))


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_cpu_clock_does_not_count_time_the_process_waits(clock: str) -> None:
    # each step waits 50 ms without using the CPU (like a process the OS keeps waiting on a
    # busy machine): 0.5 s of wall clock ends the run after about 10 steps, 0.5 s of CPU
    # time does not end it before the 20-step cap
    class Waiting(AutoEncoder):
        def forward(self, batch: Tensor) -> TaskOutput:
            time.sleep(0.05)
            return super().forward(batch)

    cfg = config(seconds=0.5, steps=20, clock=clock, log_every=10**6)
    result = Trainer(Waiting(VectorEncoder()), cfg).fit(random_vectors(16))
    assert (result.steps == 20) == (clock == "cpu")
    assert result.seconds < 0.5 if clock == "cpu" else 0.5 <= result.seconds


def test_batch_size_argument_overrides_the_config() -> None:
    result = Trainer(make_autoencoder(), config(epochs=1, batch_size=8)).fit(
        random_vectors(40), batch_size=20
    )
    assert (result.steps, result.samples) == (2, 40)


# -- logs -------------------------------------------------------------------------------------
def test_metrics_log_lines_and_learning_rate_schedule(tmp_path: Path) -> None:
    cfg = config(steps=10, log_every=3, warmup=0.3, min_lr_ratio=0.1, lr=0.02)
    result = Trainer(make_autoencoder(), cfg, tmp_path).fit(random_vectors(32))
    records = log_records(tmp_path)
    assert records == result.history
    assert [r["step"] for r in records] == [3, 6, 9, 10]  # every log_every, plus the last step
    for r in records:
        assert {"step", "loss", "lr", "epoch", "mse"} <= set(r) and math.isfinite(r["loss"])
        # the learning rate of step s follows the schedule at the progress before that step
        assert r["lr"] == pytest.approx(cfg.lr * warmup_cosine((r["step"] - 1) / 10, 0.3, 0.1))
    assert records[-1]["epoch"] == pytest.approx(10 / 4)  # 4 batches of 8 per epoch


def test_loss_in_the_log_is_the_mean_over_the_window(tmp_path: Path) -> None:
    seen: list[float] = []

    class Recording(AutoEncoder):
        def forward(self, batch):
            out = super().forward(batch)
            seen.append(float(out.loss.detach()))
            return out

    Trainer(Recording(VectorEncoder()), config(steps=6, log_every=3), tmp_path).fit(random_vectors(32))
    losses = [r["loss"] for r in log_records(tmp_path)]
    assert losses == pytest.approx([sum(seen[:3]) / 3, sum(seen[3:]) / 3])


def test_on_train_step_end_gets_monotone_progress() -> None:
    progress: list[float] = []

    class Watching(AutoEncoder):
        def on_train_step_end(self, p: float) -> None:
            progress.append(p)

    Trainer(Watching(VectorEncoder()), config(steps=8)).fit(random_vectors(16))
    assert progress == pytest.approx([s / 8 for s in range(1, 9)])


# -- checkpoints ------------------------------------------------------------------------------
def test_keeps_the_last_k_checkpoints(tmp_path: Path) -> None:
    result = Trainer(
        make_autoencoder(), config(steps=9, checkpoint_every=2, keep_checkpoints=3), tmp_path
    ).fit(random_vectors(32))
    assert checkpoint_steps(tmp_path) == [6, 8, 9]  # saved at 2, 4, 6, 8 and at the end
    assert result.checkpoint == tmp_path / "checkpoints" / "step_00000009.pt"
    state = load_checkpoint(result.checkpoint)
    assert state["step"] == 9 and state["task"] == "AutoEncoder"


def test_checkpoint_holds_the_trained_weights(tmp_path: Path) -> None:
    task = make_autoencoder()
    result = Trainer(task, config(steps=5), tmp_path).fit(random_vectors(16))
    assert_same_state(load_checkpoint(result.checkpoint)["model"], params(task))


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(tmp_path: Path) -> None:
    ckpts = CheckpointDir(tmp_path, keep=5)
    ckpts.save(1, {"model": {"w": torch.ones(3)}, "step": 1})
    ckpts.save(2, {"model": {"w": torch.full((3,), 2.0)}, "step": 2})
    newest = ckpts.save(3, {"model": {"w": torch.full((3,), 3.0)}, "step": 3})
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # truncated write
    with pytest.warns(UserWarning, match=r"step_00000003.pt is truncated or corrupt"):
        path, state = ckpts.latest()
    assert path.name == "step_00000002.pt" and torch.equal(state["model"]["w"], torch.full((3,), 2.0))
    (tmp_path / "step_00000002.pt").write_bytes(b"not a checkpoint at all")
    save_checkpoint(tmp_path / "step_00000004.pt", {"weights": 1})  # not an sslcore checkpoint
    with pytest.warns(UserWarning) as caught:
        path, state = ckpts.latest()
    assert path.name == "step_00000001.pt" and state["step"] == 1
    assert len(caught) == 3 and "no 'model' entry" in str(caught[0].message)


def test_latest_is_none_without_readable_checkpoints(tmp_path: Path) -> None:
    assert CheckpointDir(tmp_path / "missing").latest() is None
    (tmp_path / "step_00000001.pt").write_bytes(b"")
    with pytest.warns(UserWarning):
        assert CheckpointDir(tmp_path).latest() is None
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


def test_checkpoints_do_not_execute_code(tmp_path: Path) -> None:
    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"model": {}, "x": Payload()}, tmp_path / "step_00000001.pt")
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path / "step_00000001.pt")


def test_failed_atomic_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"version": 1})

    def half_then_fail(f) -> None:
        f.write(b'{"version": 2, "trunc')
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, half_then_fail)
    assert read_json(target) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_failed_checkpoint_save_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "step_00000001.pt", {"model": {"w": torch.ones(2)}})
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 - whatever pickle raises for a lambda
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "bad": lambda: None})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == [path.name]


# -- resume -------------------------------------------------------------------------------------
class Interrupted(Exception):
    pass


class CrashingContrast(NoisyViewsContrast):
    """Raises at the end of step ``crash_at``, after that step's update and log line but
    before its checkpoint (a kill in the middle of training)."""

    crash_at: int | None = None

    def on_train_step_end(self, progress: float) -> None:
        self.steps_done = getattr(self, "steps_done", 0) + 1
        if self.steps_done == self.crash_at:
            raise Interrupted


def crashing_contrast(seed: int, crash_at: int | None) -> CrashingContrast:
    torch.manual_seed(seed)
    task = CrashingContrast(VectorEncoder())
    task.crash_at = crash_at
    return task


RESUME_CONFIG = dict(steps=20, batch_size=8, checkpoint_every=5, warmup=0.2, lr=0.05, seed=3)
# 36 samples, batches of 8: 4 steps per epoch, so step 10 is in the middle of the third epoch


def interrupted_run(run: Path) -> None:
    with pytest.raises(Interrupted):
        Trainer(crashing_contrast(seed=1, crash_at=12), config(**RESUME_CONFIG), run).fit(random_vectors(36))
    assert checkpoint_steps(run) == [5, 10]
    assert [r["step"] for r in log_records(run)] == list(range(1, 12))


def test_resume_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path: Path) -> None:
    data = random_vectors(36)
    straight = crashing_contrast(seed=1, crash_at=None)
    Trainer(straight, config(**RESUME_CONFIG), tmp_path / "straight").fit(data)

    interrupted_run(tmp_path / "resumed")
    # another init: everything must come from the checkpoint
    resumed = crashing_contrast(seed=99, crash_at=None)
    result = Trainer(resumed, config(**RESUME_CONFIG), tmp_path / "resumed").fit(data, resume=True)

    assert (result.steps, result.samples) == (20, 160)
    assert_same_state(params(resumed), params(straight))
    # the log lines after the checkpoint were dropped and rewritten: one line per step, same values
    keys = ("step", "loss", "lr", "epoch")
    straight_log = [{k: r[k] for k in keys} for r in log_records(tmp_path / "straight")]
    resumed_log = [{k: r[k] for k in keys} for r in log_records(tmp_path / "resumed")]
    assert resumed_log == straight_log and [r["step"] for r in resumed_log] == list(range(1, 21))


def test_resume_without_restoring_the_rng_would_diverge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Control for the test above: the toy task's noise really depends on the global RNG."""
    data = random_vectors(36)
    straight = crashing_contrast(seed=1, crash_at=None)
    Trainer(straight, config(**RESUME_CONFIG)).fit(data)
    interrupted_run(tmp_path)
    monkeypatch.setattr(trainer_module, "set_rng_state", lambda state: None)
    resumed = crashing_contrast(seed=1, crash_at=None)
    Trainer(resumed, config(**RESUME_CONFIG), tmp_path).fit(data, resume=True)
    assert any(not torch.equal(a, b) for a, b in zip(params(resumed).values(), params(straight).values()))


def test_resume_of_a_finished_run_does_nothing(tmp_path: Path) -> None:
    data = random_vectors(16)
    first = make_autoencoder()
    Trainer(first, config(steps=6, checkpoint_every=3), tmp_path).fit(data)
    again = make_autoencoder(seed=5)
    result = Trainer(again, config(steps=6, checkpoint_every=3), tmp_path).fit(data, resume=True)
    assert result.steps == 6 and result.history == []
    assert_same_state(params(again), params(first))
    assert [r["step"] for r in log_records(tmp_path)] == list(range(1, 7))


def test_resume_skips_a_corrupt_newest_checkpoint(tmp_path: Path) -> None:
    data = random_vectors(16)
    Trainer(make_autoencoder(), config(steps=10, checkpoint_every=5), tmp_path).fit(data)
    newest = tmp_path / "checkpoints" / "step_00000010.pt"
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        result = Trainer(make_autoencoder(), config(steps=10, checkpoint_every=5), tmp_path).fit(
            data, resume=True
        )
    assert result.steps == 10 and [r["step"] for r in result.history] == [6, 7, 8, 9, 10]
    assert [r["step"] for r in log_records(tmp_path)] == list(range(1, 11))


def test_resume_refuses_a_checkpoint_of_another_task(tmp_path: Path) -> None:
    Trainer(make_contrast(), config(steps=2), tmp_path).fit(random_vectors(16))
    with pytest.raises(CheckpointError, match="is of task 'NoisyViewsContrast', not 'AutoEncoder'"):
        Trainer(make_autoencoder(), config(steps=4), tmp_path).fit(random_vectors(16), resume=True)


# -- non-finite loss --------------------------------------------------------------------------------
class NaNAt(AutoEncoder):
    """Returns a non-finite loss at call ``bad_at``; snapshots its weights and the
    checkpoint files after every step."""

    def __init__(self, encoder, bad_at: int, value: float = float("nan"), watch: Path | None = None):
        super().__init__(encoder)
        self.bad_at, self.value, self.watch, self.calls = bad_at, value, watch, 0
        self.weights: dict[int, dict] = {}
        self.files: dict[int, dict[str, bytes]] = {}

    def forward(self, batch):
        self.calls += 1
        out = super().forward(batch)
        return TaskOutput(out.loss * self.value) if self.calls == self.bad_at else out

    def on_train_step_end(self, progress: float) -> None:
        self.weights[self.calls] = params(self)
        if self.watch is not None and self.watch.is_dir():
            self.files[self.calls] = {p.name: p.read_bytes() for p in self.watch.iterdir()}


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    task = NaNAt(VectorEncoder(), bad_at=8, watch=tmp_path / "checkpoints")
    with pytest.raises(NonFiniteLossError) as exc:
        Trainer(task, config(steps=20, checkpoint_every=3), tmp_path).fit(random_vectors(32))
    err = exc.value
    last_good = tmp_path / "checkpoints" / "step_00000006.pt"
    assert err.step == 8 and "loss is nan at step 8" in str(err)
    assert err.checkpoint == last_good and str(last_good) in str(err)
    assert checkpoint_steps(tmp_path) == [3, 6]
    # the good checkpoint is loadable and byte-for-byte what was written at step 6
    assert last_good.read_bytes() == task.files[7]["step_00000006.pt"]
    state = load_checkpoint(last_good)
    assert state["step"] == 6
    assert_same_state(state["model"], task.weights[6])


def test_skipping_nan_steps_keeps_the_weights(tmp_path: Path) -> None:
    """With ``nan_policy="skip"`` the loss is read every step and a bad step changes nothing.
    (With the default "stop" the loss stays on the device until the next log point or
    checkpoint: the error names the bad step and the checkpoint before it, but the weights in
    memory may have taken the bad updates.)"""
    torch.manual_seed(0)
    task = NaNAt(VectorEncoder(), bad_at=8)
    result = Trainer(task, config(steps=8, nan_policy="skip")).fit(random_vectors(32))
    assert result.skipped_steps == 1
    assert_same_state(params(task), task.weights[7])


def test_infinite_loss_before_any_checkpoint() -> None:
    torch.manual_seed(0)
    task = NaNAt(VectorEncoder(), bad_at=2, value=float("inf"))
    with pytest.raises(
        NonFiniteLossError, match="loss is inf at step 2; .*no checkpoint had been written yet"
    ) as exc:
        Trainer(task, config(steps=20)).fit(random_vectors(32))
    assert exc.value.checkpoint is None


def test_forward_must_return_a_scalar_task_output() -> None:
    class Vector(AutoEncoder):
        def forward(self, batch):
            return TaskOutput((self.decoder(self.encoder(batch)) - batch).pow(2).mean(dim=1))

    class Raw(AutoEncoder):
        def forward(self, batch):
            return super().forward(batch).loss

    with pytest.raises(ValueError, match=r"the task's loss must be a scalar, got shape \(8,\)"):
        Trainer(Vector(VectorEncoder()), config(steps=1)).fit(random_vectors(16))
    with pytest.raises(TypeError, match="Raw.forward must return a TaskOutput, got Tensor"):
        Trainer(Raw(VectorEncoder()), config(steps=1)).fit(random_vectors(16))


# -- adversarial, alternating -------------------------------------------------------------------------
def test_alternating_schedule_updates_discriminator_and_generator_separately() -> None:
    task = make_gan()
    names = {id(p): n for n, p in task.named_parameters()}
    changed: list[tuple[str, set[str]]] = []
    before: dict[str, torch.Tensor] = {}

    def pre(opt, args, kwargs):
        before.update(params(task))

    def post(opt, args, kwargs):
        owned = {names[id(p)] for g in opt.param_groups for p in g["params"]}
        kind = "D" if all(n.startswith("discriminator.") for n in owned) else "G"
        after = params(task)
        changed.append((kind, {n for n in after if not torch.equal(after[n], before[n])}))

    handles = [register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]
    try:
        result = Trainer(task, config(steps=4)).fit(random_vectors(32))
    finally:
        for h in handles:
            h.remove()
    disc = {n for n, _ in task.named_parameters() if n.startswith("discriminator.")}
    gen = {n for n, _ in task.named_parameters()} - disc
    assert gen == {"encoder.linear.weight", "encoder.linear.bias", "decoder.weight", "decoder.bias"}
    assert [kind for kind, _ in changed] == ["D", "G"] * 4  # discriminator first, every step
    for kind, names_changed in changed:
        assert names_changed == (disc if kind == "D" else gen)
    assert "disc/loss" in result.history[-1] and math.isfinite(result.history[-1]["disc/loss"])


def test_a_task_can_add_players_each_with_its_own_optimiser() -> None:
    from tests.toy_tasks import ToyGAN

    class ThreePlayers(ToyGAN):
        """A reconstruction player ahead of the GAN's two: the decoder fits the real vectors
        through the encoder, with an optimiser of its own over the same parameters."""

        players = ("autoencoder", "discriminator", "generator")

        def autoencoder_parameters(self):
            return self.generator_parameters()

        def autoencoder_loss(self, batch):
            loss = (self.generate(batch["real"]) - batch["real"]).pow(2).mean()
            return TaskOutput(loss, {"mse": loss.detach()})

    torch.manual_seed(0)
    task = ThreePlayers(VectorEncoder())
    with optimizer_steps() as steps:
        result = Trainer(task, config(steps=3)).fit(random_vectors(32))
    optimizers = [s["optimizer"] for s in steps]
    assert len(optimizers) == 9 and len({id(o) for o in optimizers}) == 3
    assert optimizers[:3] * 3 == optimizers  # every step: autoencoder, discriminator, generator
    owned = [{id(p) for g in o.param_groups for p in g["params"]} for o in optimizers[:3]]
    generator = {id(p) for p in task.generator_parameters()}
    assert owned == [generator, {id(p) for p in task.discriminator_parameters()}, generator]
    # two optimisers over the same weights keep moments of their own: 3 steps each
    weight = task.decoder.weight
    assert [optimizers[i].state[weight]["step"].item() for i in (0, 2)] == [3, 3]
    assert not torch.equal(optimizers[0].state[weight]["exp_avg"], optimizers[2].state[weight]["exp_avg"])
    last = result.history[-1]
    assert {"autoencoder/loss", "autoencoder/mse", "disc/loss"} <= set(last)
    assert last["loss"] > last["autoencoder/loss"] > 0  # the generator's loss and the autoencoder's


def test_joint_adversarial_schedule_uses_one_optimizer() -> None:
    task = make_gan(schedule="joint")
    with optimizer_steps() as steps:
        Trainer(task, config(steps=3)).fit(random_vectors(16))
    assert len(steps) == 3 and len({id(s["optimizer"]) for s in steps}) == 1
    optimizer = steps[0]["optimizer"]
    assert {id(p) for g in optimizer.param_groups for p in g["params"]} == {id(p) for p in task.parameters()}


# -- precision and clipping -------------------------------------------------------------------------------
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("make", [make_autoencoder, make_contrast])
def test_precision_runs_and_stays_finite(precision: str, make) -> None:
    task = make()
    autocast_seen: list[bool] = []
    original = type(task).forward

    def spy(self, batch):
        autocast_seen.append(torch.is_autocast_enabled("cpu"))
        return original(self, batch)

    task.forward = spy.__get__(task)
    before = params(task)
    result = Trainer(task, config(steps=3, precision=precision)).fit(random_vectors(16))
    assert autocast_seen == [precision == "bf16"] * 3
    assert math.isfinite(result.final_loss)
    after = params(task)
    assert all(torch.isfinite(v).all() and v.dtype == torch.float32 for v in after.values())
    assert any(not torch.equal(after[k], before[k]) for k in after)


class HugeLoss(AutoEncoder):
    def forward(self, batch):
        out = super().forward(batch)
        return TaskOutput(out.loss * 1e6)


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_clipping_bounds_the_gradient_norm(clip) -> None:
    torch.manual_seed(0)
    with optimizer_steps() as steps:
        Trainer(HugeLoss(VectorEncoder()), config(steps=5, grad_clip=clip)).fit(random_vectors(16))
    norms = [s["grad_norm"] for s in steps]
    assert len(norms) == 5
    if clip is None:
        assert min(norms) > 100  # the toy's gradients are huge: clipping has work to do
    else:
        assert max(norms) <= clip * (1 + 1e-5)


def test_optimizer_decays_weight_matrices_only() -> None:
    task = make_autoencoder()
    opt = make_optimizer(task.parameters(), config(steps=1, weight_decay=0.3))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.3 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(task.encoder.linear.weight), id(task.decoder.weight)}
    assert {id(p) for p in no_decay["params"]} == {id(task.encoder.linear.bias), id(task.decoder.bias)}
    sgd = make_optimizer(task.parameters(), config(steps=1, optimizer="sgd", momentum=0.5))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.5


def test_adam_adds_the_l2_penalty_to_the_gradient_adamw_decouples_it() -> None:
    """One step from zero gradient: Adam's step follows the L2 term (sign of w, size lr),
    AdamW's decay is lr * wd * w."""
    for name, expected in (
        ("adam", lambda w: w - 0.1 * torch.sign(w)),
        ("adamw", lambda w: w * (1 - 0.1 * 0.5)),
    ):
        weight = torch.nn.Parameter(torch.tensor([[1.0, -2.0]]))
        opt = make_optimizer([weight], config(steps=1, optimizer=name, lr=0.1, weight_decay=0.5))
        before = weight.detach().clone()
        weight.grad = torch.zeros_like(weight)
        opt.step()
        assert torch.allclose(weight.detach(), expected(before), atol=1e-6), name


# -- configuration errors ------------------------------------------------------------------------------------
def test_from_dict_rejects_unknown_keys_with_the_closest_valid_key() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown training option 'step'; did you mean 'steps'\? Valid: epochs, steps"
    ):
        TrainConfig.from_dict({"step": 10})
    with pytest.raises(ConfigError, match=r"unknown training option 'lerning_rate'"):
        TrainConfig.from_dict({"steps": 1, "lerning_rate": 0.1})
    cfg = TrainConfig.from_dict({"steps": 5, "lr": 0.5})
    assert (cfg.steps, cfg.lr) == (5, 0.5)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "no training budget: set epochs, steps or seconds"),
        ({"steps": 0}, "steps must be > 0, got 0"),
        ({"epochs": -1.0}, "epochs must be > 0"),
        ({"seconds": 0}, "seconds must be > 0"),
        (
            {"steps": 1, "optimizer": "adamm"},
            "optimizer must be one of 'adamw', 'adam', 'sgd', 'lars', got 'adamm'; did you mean 'adam'",
        ),
        ({"steps": 1, "precision": "bf61"}, "precision must be one of .*, got 'bf61'; did you mean 'bf16'"),
        ({"steps": 1, "nan_policy": "ignore"}, "nan_policy must be one of 'stop', 'skip', got 'ignore'"),
        ({"steps": 1, "batch_size": 0}, "batch_size must be >= 1"),
        ({"steps": 1, "warmup": 1.0}, r"warmup must be in \[0, 1\), got 1.0"),
        ({"steps": 1, "min_lr_ratio": -0.1}, r"min_lr_ratio must be in \[0, 1\], got -0.1"),
        ({"steps": 1, "min_lr_ratio": 1.5}, r"min_lr_ratio must be in \[0, 1\]"),
        ({"steps": 1, "lr": 0.0}, "lr must be > 0"),
        ({"steps": 1, "grad_clip": 0.0}, "grad_clip must be > 0"),
        ({"steps": 1, "keep_checkpoints": 0}, "keep_checkpoints must be >= 1, got 0"),
        ({"steps": "10"}, "steps must be an int > 0 or None, got str '10'"),
        ({"steps": 1, "momentum": -0.5}, "momentum must be >= 0, got -0.5"),
        ({"steps": 1, "lars_eta": 0.0}, "lars_eta must be > 0, got 0.0"),
        ({"steps": 1, "num_workers": -1}, "num_workers must be >= 0, got -1"),
        ({"steps": 1, "progress_bar": "no"}, "progress_bar must be True or False, got str 'no'"),
        ({"steps": 1, "channels_last": 1}, "channels_last must be True or False or None, got int 1"),
    ],
)
def test_config_validation(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict(values)


def test_batch_smaller_than_the_task_minimum_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError,
        match=r"NoisyViewsContrast needs batches of at least 2 samples but gets 1 \(batch_size=1, "
        r"dataset size=16\): set batch_size to at least 2",
    ):
        Trainer(make_contrast(), config(steps=1, batch_size=1)).fit(random_vectors(16))
    with pytest.raises(
        ConfigError, match=r"but gets 1 \(batch_size=8, dataset size=1\): give it at least 2 samples"
    ):
        Trainer(make_contrast(), config(steps=1)).fit(random_vectors(1))
    assert Trainer(make_autoencoder(), config(steps=1, batch_size=1)).fit(random_vectors(3)).steps == 1


def test_empty_dataset_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="the pretraining dataset is empty"):
        Trainer(make_autoencoder(), config(steps=1)).fit([])


# -- schedule ------------------------------------------------------------------------------------------------
def plain_schedule(p: float, w: float, r: float) -> float:
    if p < w:
        return p / w
    return r + (1 - r) * (1 + math.cos(math.pi * (p - w) / (1 - w))) / 2


@pytest.mark.parametrize(("warmup", "min_ratio"), [(0.1, 0.0), (0.25, 0.2), (0.0, 0.05)])
def test_warmup_cosine_shape(warmup: float, min_ratio: float) -> None:
    grid = [i / 200 for i in range(201)]
    values = [warmup_cosine(p, warmup, min_ratio) for p in grid]
    for p, v in zip(grid, values):
        if p > 0 or warmup == 0:
            assert v == pytest.approx(max(plain_schedule(p, warmup, min_ratio), 1e-3 if p < warmup else 0.0))
    assert values[0] <= 1e-3 if warmup else values[0] == pytest.approx(1.0)  # ~0 at the start of warmup
    assert warmup_cosine(warmup, warmup, min_ratio) == pytest.approx(1.0)  # peak at the end of warmup
    assert warmup_cosine(1.0, warmup, min_ratio) == pytest.approx(min_ratio)
    warm = [v for p, v in zip(grid, values) if p < warmup]
    decay = [v for p, v in zip(grid, values) if p >= warmup]
    assert all(a < b for a, b in zip(warm, warm[1:]))
    assert all(a > b for a, b in zip(decay, decay[1:]))
    # progress outside [0, 1] is clamped
    assert warmup_cosine(1.7, warmup, min_ratio) == warmup_cosine(1.0, warmup, min_ratio)
    assert warmup_cosine(-1.0, warmup, min_ratio) == warmup_cosine(0.0, warmup, min_ratio)


def test_loader_collate_pickles_for_spawned_workers() -> None:
    """DataLoader workers started with ``spawn`` receive the collate function pickled."""
    task = make_contrast()
    loader, _ = Trainer(task, config(steps=1))._loader(random_vectors(12), 4)
    collate = pickle.loads(pickle.dumps(loader.collate_fn))
    samples = random_vectors(5)
    count, (view1, view2) = collate(list(samples))
    assert count == 5
    assert view1.shape == view2.shape == (5, samples[0].shape[0])


# -- sample indices (needs_indices) ---------------------------------------------------------
def indexed_autoencoder(seed: int = 0) -> IndexedAutoEncoder:
    torch.manual_seed(seed)
    return IndexedAutoEncoder(VectorEncoder())


def test_a_task_that_needs_indices_gets_each_sample_with_its_index() -> None:
    data = random_vectors(20)
    task = indexed_autoencoder()
    Trainer(task, config(steps=10, batch_size=4)).fit(data)
    assert len(task.seen) == 10
    for indices, vectors in task.seen:
        assert torch.equal(vectors, torch.stack([data[int(i)] for i in indices]))
    first_epoch = torch.cat([indices for indices, _ in task.seen[:5]])
    assert sorted(first_epoch.tolist()) == list(range(20))  # a permutation, not 0..19 in order
    assert first_epoch.tolist() != list(range(20))
    # other tasks still get bare samples
    plain = make_autoencoder()
    loader, _ = Trainer(plain, config(steps=1))._loader(data, 4)
    assert not isinstance(loader.dataset, IndexedDataset)


def test_resumed_indexed_run_sees_the_same_indices_as_an_uninterrupted_one(tmp_path: Path) -> None:
    data = random_vectors(36)  # batches of 8: 4 steps per epoch, step 6 is mid-epoch
    straight = indexed_autoencoder()
    Trainer(straight, config(steps=10, seed=3)).fit(data)
    Trainer(indexed_autoencoder(), config(steps=6, seed=3, checkpoint_every=3), tmp_path).fit(data)
    resumed = indexed_autoencoder(seed=5)
    Trainer(resumed, config(steps=10, seed=3), tmp_path).fit(data, resume=True)
    assert [i.tolist() for i, _ in resumed.seen] == [i.tolist() for i, _ in straight.seen[6:]]


def test_indexed_dataset_pairs_and_pickles() -> None:
    data = IndexedDataset(random_vectors(3))
    assert len(data) == 3
    index, vector = pickle.loads(pickle.dumps(data))[2]
    assert index == 2 and torch.equal(vector, random_vectors(3)[2])


class _HostReads(torch.overrides.TorchFunctionMode):
    """Counts the reads of a tensor's value back to the host (a sync on a GPU) made by code
    outside torch (torch's own CPU bookkeeping, e.g. Adam's step counter, is not a sync)."""

    READS = {torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.tolist, torch.Tensor.__bool__}
    TORCH = str(Path(torch.__file__).parent) + os.sep

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.READS and not sys._getframe(1).f_code.co_filename.startswith(self.TORCH):
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("metric", ["tensor", "none"])
def test_steps_read_nothing_back_between_log_points(metric: str) -> None:
    """One process, nan_policy "stop": losses and tensor metrics stay on the device and are
    read once per log window (plus the NaN watch), not once per step."""

    class Quiet(AutoEncoder):
        def forward(self, batch):
            loss = F.mse_loss(self.decoder(self.encoder(batch)), batch)
            return TaskOutput(loss, {"scale": loss.detach() * 2} if metric == "tensor" else {})

    def reads(steps: int) -> int:
        torch.manual_seed(0)
        with _HostReads() as mode:
            result = Trainer(Quiet(VectorEncoder()), config(steps=steps, log_every=10)).fit(
                random_vectors(64)
            )
        assert math.isfinite(result.final_loss) and len(result.history) == steps // 10
        if metric == "tensor":
            assert result.history[-1]["scale"] == pytest.approx(2 * result.history[-1]["loss"])
        return mode.count

    per_window = 2 + (metric == "tensor")  # the window's loss, the NaN watch, the metric
    assert reads(40) - reads(20) == per_window * (40 - 20) // 10


class TinyConv(AutoEncoder):
    """A convolutional auto-encoder on ``[N, 2, 4, 4]`` images; records its input layout."""

    def __init__(self) -> None:
        encoder = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.Flatten())
        encoder.output_dim = 48
        super().__init__(encoder, out_dim=32)
        self.layouts: list[bool] = []

    def forward(self, batch):
        self.layouts.append(batch.is_contiguous(memory_format=torch.channels_last))
        loss = F.mse_loss(self.decoder(self.encoder(batch)), batch.flatten(1))
        return TaskOutput(loss)


def test_channels_last_converts_model_and_image_batches() -> None:
    images = [torch.randn(2, 4, 4) for _ in range(16)]
    task = TinyConv()
    Trainer(task, config(steps=2, channels_last=True)).fit(images)
    assert task.layouts == [True, True]
    assert task.encoder[0].weight.is_contiguous(memory_format=torch.channels_last)
    default = TinyConv()
    Trainer(default, config(steps=1)).fit(images)  # None: only on CUDA
    assert default.layouts == [False]


def test_compile_runs_the_losses_through_torch_compile(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = []

    def fake_compile(fn):
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    task = AutoEncoder(VectorEncoder())
    Trainer(task, config(steps=3, compile=True)).fit(random_vectors(32))
    assert compiled == [task]  # compiled once, reused every step


def test_cosine_ramp_and_linear_warmup() -> None:
    from sslcore.engine import cosine_ramp, linear_warmup

    assert cosine_ramp(0.0, 0.996, 1.0) == pytest.approx(0.996)
    assert cosine_ramp(0.5, 0.996, 1.0) == pytest.approx(0.998)
    assert cosine_ramp(1.0, 0.996, 1.0) == pytest.approx(1.0)
    assert cosine_ramp(2.0, 0.996, 1.0) == cosine_ramp(1.0, 0.996, 1.0)  # clamped
    values = [cosine_ramp(p / 20, 0.04, 0.07) for p in range(21)]
    assert values == sorted(values)  # monotone from start to end
    assert linear_warmup(0.0, 0.04, 0.07, 0.3) == pytest.approx(0.04)
    assert linear_warmup(0.15, 0.04, 0.07, 0.3) == pytest.approx(0.055)
    assert linear_warmup(0.3, 0.04, 0.07, 0.3) == linear_warmup(0.9, 0.04, 0.07, 0.3) == pytest.approx(0.07)
    assert linear_warmup(0.0, 0.04, 0.07, 0.0) == pytest.approx(0.07)
    with pytest.raises(ValueError, match="warmup must be a fraction"):
        linear_warmup(0.5, 0.04, 0.07, 1.5)


# -- LARS and the weight-decay exemptions through the trainer ---------------------------------------------
def test_lars_through_the_trainer_scales_each_weight_update_by_the_trust_ratio() -> None:
    """First step, no weight decay: a weight matrix moves by ``lr * eta * ||w||`` (its gradient's
    size does not matter), a bias by plain SGD ``lr * g``."""
    from sslcore.engine.lars import LARS

    task = make_autoencoder(seed=4)
    before = params(task)
    seen: list[tuple[torch.optim.Optimizer, float, dict[str, torch.Tensor]]] = []

    def pre(opt, args, kwargs):
        grads = {n: p.grad.detach().clone() for n, p in task.named_parameters()}
        seen.append((opt, opt.param_groups[0]["lr"], grads))

    handle = register_optimizer_step_pre_hook(pre)
    try:
        Trainer(task, config(steps=1, optimizer="lars", lr=0.5, weight_decay=0.0)).fit(random_vectors(16))
    finally:
        handle.remove()
    ((opt, lr, grads),) = seen
    assert isinstance(opt, LARS) and [g["lars_exclude"] for g in opt.param_groups] == [False, True]
    after = params(task)
    for name in ("encoder.linear.weight", "decoder.weight"):
        moved = float((after[name] - before[name]).norm())
        assert moved == pytest.approx(lr * 1e-3 * float(before[name].norm()), rel=1e-4), name
    for name in ("encoder.linear.bias", "decoder.bias"):
        assert torch.allclose(after[name], before[name] - lr * grads[name], atol=1e-7), name


LARS_RESUME = {**RESUME_CONFIG, "optimizer": "lars", "lr": 0.5, "weight_decay": 1e-3}


def test_lars_resume_gives_the_same_parameters_as_an_uninterrupted_run(tmp_path: Path) -> None:
    data = random_vectors(36)
    straight = crashing_contrast(seed=1, crash_at=None)
    initial = params(straight)
    Trainer(straight, config(**LARS_RESUME), tmp_path / "straight").fit(data)
    assert all(not torch.equal(initial[k], v) for k, v in params(straight).items())

    with pytest.raises(Interrupted):
        Trainer(crashing_contrast(seed=1, crash_at=12), config(**LARS_RESUME), tmp_path / "resumed").fit(data)
    assert checkpoint_steps(tmp_path / "resumed") == [5, 10]
    resumed = crashing_contrast(seed=99, crash_at=None)
    result = Trainer(resumed, config(**LARS_RESUME), tmp_path / "resumed").fit(data, resume=True)
    assert result.steps == 20
    assert_same_state(params(resumed), params(straight))


class PosEncoder(VectorEncoder):
    """``f(x) = tanh(W (x + p) + b)`` with a learnt ``p`` (``[1, DIM]``, a matrix: only its
    ``no_weight_decay()`` declaration keeps it out of weight decay, timm's convention)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, self.linear.in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x + self.pos_embed)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed"}


@pytest.mark.parametrize("schedule", ["joint", "alternating"])
def test_the_trainer_keeps_no_weight_decay_parameters_out_of_weight_decay(schedule: str) -> None:
    from tests.toy_tasks import ToyGAN

    torch.manual_seed(0)
    task = ToyGAN(PosEncoder(), schedule=schedule)
    with optimizer_steps() as steps:
        Trainer(task, config(steps=1, weight_decay=0.1)).fit(random_vectors(16))
    optimizers = list({id(s["optimizer"]): s["optimizer"] for s in steps}.values())
    assert len(optimizers) == (2 if schedule == "alternating" else 1)
    generator = optimizers[-1]  # the alternating schedule steps the discriminator first
    decay, exempt = generator.param_groups
    pos = id(task.encoder.pos_embed)
    assert [id(p) for p in exempt["params"]].count(pos) == 1 and exempt["weight_decay"] == 0.0
    assert pos not in {id(p) for p in decay["params"]} and decay["weight_decay"] == 0.1
    assert {id(p) for p in decay["params"]} >= {id(task.encoder.linear.weight), id(task.decoder.weight)}
