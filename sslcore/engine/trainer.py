"""One training loop for every pretext task.

Optimiser (AdamW or SGD, no weight decay on biases and norms), warmup + cosine schedule
over an epoch / step / time budget, gradient clipping, optional bf16 autocast, seeding,
a tqdm progress bar, a JSONL metrics log, atomic checkpoints and exact resume (the data
order is a function of ``(seed, epoch)`` and RNG states are checkpointed). A task that
sets ``needs_indices`` gets ``(index, sample)`` pairs (:class:`~sslcore.data.IndexedDataset`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from sslcore.data import IndexedDataset
from sslcore.engine.batch import move_to
from sslcore.engine.checkpoint import CheckpointDir, rng_state, set_rng_state
from sslcore.engine.config import TrainConfig
from sslcore.engine.sampler import ResumableRandomSampler
from sslcore.engine.schedule import warmup_cosine
from sslcore.errors import CheckpointError, ConfigError, NonFiniteLossError
from sslcore.io import atomic_write_text
from sslcore.paradigms import AdversarialTask, PretextTask, TaskOutput


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    steps: int
    epochs: float
    seconds: float
    final_loss: float
    samples: int
    checkpoint: Path | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def make_optimizer(params: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW or SGD with weight decay on weight matrices only (not biases or norms)."""
    params = [p for p in params if p.requires_grad]
    decay = [p for p in params if p.dim() > 1]
    no_decay = [p for p in params if p.dim() <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    return torch.optim.AdamW(groups, lr=config.lr)


class CountingCollate:
    """``samples -> (len(samples), collate(samples))``: the trainer counts samples even
    when a task's batch has no obvious length. A class, not a closure, so that DataLoader
    workers started with ``spawn`` or ``forkserver`` can pickle it."""

    def __init__(self, collate: Callable[[Sequence[Any]], Any]):
        self.collate = collate

    def __call__(self, samples: Sequence[Any]) -> tuple[int, Any]:
        return len(samples), self.collate(samples)


class Trainer:
    """Train ``task`` under ``config``, writing logs and checkpoints to ``output_dir``."""

    def __init__(self, task: PretextTask, config: TrainConfig, output_dir: str | Path | None = None):
        self.task, self.config = task, config
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.device = resolve_device(config.device)
        self.alternating = isinstance(task, AdversarialTask) and task.schedule == "alternating"
        self.checkpoints = (
            CheckpointDir(self.output_dir / "checkpoints", config.keep_checkpoints)
            if self.output_dir
            else None
        )
        self.last_checkpoint: Path | None = None

    # -- set-up ------------------------------------------------------------------------
    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        if self.alternating:
            task: AdversarialTask = self.task  # type: ignore[assignment]
            return {
                "generator": make_optimizer(task.generator_parameters(), self.config),
                "discriminator": make_optimizer(task.discriminator_parameters(), self.config),
            }
        return {"model": make_optimizer(self.task.parameters(), self.config)}

    def _loader(
        self, data: Dataset | Sequence[Any], batch_size: int
    ) -> tuple[DataLoader, ResumableRandomSampler]:
        n = len(data)  # type: ignore[arg-type]
        if n == 0:
            raise ConfigError("the pretraining dataset is empty: nothing to train on")
        effective = min(batch_size, n)
        if effective < self.task.min_batch_size:
            raise ConfigError(
                f"{type(self.task).__name__} needs batches of at least {self.task.min_batch_size} samples "
                f"but gets {effective} (batch_size={batch_size}, dataset size={n})"
            )
        sampler = ResumableRandomSampler(n, seed=self.config.seed)
        loader = DataLoader(
            IndexedDataset(data) if self.task.needs_indices else data,  # type: ignore[arg-type]
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=CountingCollate(self.task.collate),
            num_workers=self.config.num_workers,
            drop_last=n > batch_size,
            # a private generator: creating an iterator must not consume the global RNG,
            # or a resumed run would diverge from an uninterrupted one
            generator=torch.Generator().manual_seed(self.config.seed),
        )
        return loader, sampler

    # -- the loop ----------------------------------------------------------------------
    def fit(
        self, data: Dataset | Sequence[Any], batch_size: int | None = None, resume: bool = False
    ) -> TrainResult:
        cfg = self.config
        batch_size = batch_size or cfg.batch_size
        seed_everything(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.task.to(self.device)
        self.task.train()
        loader, sampler = self._loader(data, batch_size)
        steps_per_epoch = len(loader)
        total_steps = self._total_steps(steps_per_epoch)
        optimizers = self._optimizers()
        base_lrs = {k: [g["lr"] for g in o.param_groups] for k, o in optimizers.items()}

        step, epoch, batch_in_epoch, elapsed_before, samples = 0, 0, 0, 0.0, 0
        if resume:
            restored = self._restore(optimizers)
            if restored is not None:
                step, epoch, batch_in_epoch, elapsed_before, samples = restored
                self._truncate_log(step)

        history: list[dict[str, Any]] = []
        window: list[float] = []
        window_metrics: dict[str, list[float]] = {}
        last_loss = float("nan")
        start = time.perf_counter()
        window_start, window_samples = start, 0
        bar = tqdm(
            total=total_steps, initial=step, disable=not cfg.progress_bar, desc=type(self.task).__name__
        )
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

        def progress() -> float:
            fractions = []
            if total_steps:
                fractions.append(step / total_steps)
            if cfg.seconds:
                fractions.append((elapsed_before + time.perf_counter() - start) / cfg.seconds)
            return min(max(fractions), 1.0)

        done = self._budget_reached(step, elapsed_before, total_steps)
        while not done:
            sampler.set_position(epoch, batch_in_epoch * batch_size)
            for count, batch in loader:
                factor = warmup_cosine(progress(), cfg.warmup, cfg.min_lr_ratio)
                for key, opt in optimizers.items():
                    for group, base in zip(opt.param_groups, base_lrs[key]):
                        group["lr"] = base * factor
                batch = move_to(batch, self.device)
                out = self._step(batch, optimizers, autocast, step + 1)
                step += 1
                batch_in_epoch += 1
                samples += count
                window_samples += count
                last_loss = float(out.loss.detach())
                window.append(last_loss)
                for k, v in out.metrics.items():
                    window_metrics.setdefault(k, []).append(float(v))
                self.task.on_train_step_end(progress())
                bar.update(1)
                elapsed = elapsed_before + time.perf_counter() - start
                done = self._budget_reached(step, elapsed, total_steps)
                if step % cfg.log_every == 0 or done:
                    now = time.perf_counter()
                    record = {
                        "step": step,
                        "epoch": epoch + batch_in_epoch / max(steps_per_epoch, 1),
                        "loss": float(np.mean(window)),
                        "lr": optimizers[next(iter(optimizers))].param_groups[0]["lr"],
                        "elapsed": round(elapsed, 3),
                        "samples_per_sec": window_samples / max(now - window_start, 1e-9),
                        **{k: float(np.mean(v)) for k, v in window_metrics.items()},
                    }
                    history.append(record)
                    self._log(record)
                    bar.set_postfix(loss=f"{record['loss']:.4f}")
                    window, window_metrics = [], {}
                    window_start, window_samples = now, 0
                if step % cfg.checkpoint_every == 0 or done:
                    self._save(optimizers, step, epoch, batch_in_epoch, elapsed, samples)
                if done:
                    break
            else:
                epoch += 1
                batch_in_epoch = 0
        bar.close()
        return TrainResult(
            steps=step,
            epochs=epoch + batch_in_epoch / max(steps_per_epoch, 1),
            seconds=elapsed_before + time.perf_counter() - start,
            final_loss=last_loss,
            samples=samples,
            checkpoint=self.last_checkpoint,
            history=history,
        )

    def _step(
        self, batch: Any, optimizers: dict[str, torch.optim.Optimizer], autocast: Any, step: int
    ) -> TaskOutput:
        if not self.alternating:
            with autocast:
                out = self.task(batch)
            self._backward(out, optimizers["model"], self.task.parameters(), step)
            return out
        task: AdversarialTask = self.task  # type: ignore[assignment]
        with autocast:
            d_out = task.discriminator_loss(batch)
        self._backward(d_out, optimizers["discriminator"], task.discriminator_parameters(), step)
        with autocast:
            g_out = task.generator_loss(batch)
        self._backward(g_out, optimizers["generator"], task.generator_parameters(), step)
        metrics = {**g_out.metrics, **{f"disc/{k}": v for k, v in d_out.metrics.items()}}
        metrics["disc/loss"] = float(d_out.loss.detach())
        return TaskOutput(g_out.loss, metrics)

    def _backward(
        self, out: TaskOutput, opt: torch.optim.Optimizer, params: Iterable[nn.Parameter], step: int
    ) -> None:
        if not isinstance(out, TaskOutput):
            raise TypeError(
                f"{type(self.task).__name__}.forward must return a TaskOutput, got {type(out).__name__}"
            )
        if out.loss.dim() != 0:
            raise ValueError(f"the task's loss must be a scalar, got shape {tuple(out.loss.shape)}")
        if not torch.isfinite(out.loss.detach()).item():
            raise NonFiniteLossError(step, float(out.loss.detach()), self.last_checkpoint)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(list(params), self.config.grad_clip)
        opt.step()

    # -- budget ------------------------------------------------------------------------
    def _total_steps(self, steps_per_epoch: int) -> int | None:
        candidates = []
        if self.config.steps:
            candidates.append(self.config.steps)
        if self.config.epochs:
            candidates.append(max(1, math.ceil(self.config.epochs * steps_per_epoch)))
        return min(candidates) if candidates else None

    def _budget_reached(self, step: int, elapsed: float, total_steps: int | None) -> bool:
        if total_steps is not None and step >= total_steps:
            return True
        return bool(self.config.seconds) and elapsed >= self.config.seconds  # type: ignore[operator]

    # -- logs and checkpoints ------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if self.output_dir is None:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        with open(self.output_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _truncate_log(self, step: int) -> None:
        """Drop log lines written after the checkpoint we resume from."""
        path = self.output_dir / "metrics.jsonl" if self.output_dir else None
        if path is None or not path.exists():
            return
        kept = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def _save(
        self,
        optimizers: dict[str, torch.optim.Optimizer],
        step: int,
        epoch: int,
        batch_in_epoch: int,
        elapsed: float,
        samples: int,
    ) -> None:
        if self.checkpoints is None:
            return
        state = {
            "model": self.task.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "step": step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "elapsed": elapsed,
            "samples": samples,
            "rng": rng_state(),
            "task": type(self.task).__name__,
        }
        self.last_checkpoint = self.checkpoints.save(step, state)

    def _restore(
        self, optimizers: dict[str, torch.optim.Optimizer]
    ) -> tuple[int, int, int, float, int] | None:
        found = self.checkpoints.latest() if self.checkpoints else None
        if found is None:
            return None
        path, state = found
        if state.get("task") != type(self.task).__name__:
            raise CheckpointError(
                f"checkpoint {path} is of task {state.get('task')!r}, not {type(self.task).__name__!r}"
            )
        self.task.load_state_dict(state["model"])
        for key, opt in optimizers.items():
            opt.load_state_dict(state["optimizers"][key])
        set_rng_state(state["rng"])
        self.last_checkpoint = path
        return state["step"], state["epoch"], state["batch_in_epoch"], state["elapsed"], state["samples"]
