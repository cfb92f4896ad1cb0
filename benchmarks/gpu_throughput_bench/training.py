"""Training throughput through sslcore's own trainer: a task built by ``sslcore.build`` from
registered names, trained by ``sslcore.engine.Trainer`` under a ``TrainConfig``, measured
from the trainer's log windows (``samples_per_sec`` per window; each log point reads the
loss, so a window's time includes the device's queued work)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sslcore.build import build_dataset, build_task
from sslcore.compare.flops import flops_per_step
from sslcore.data import DatasetBundle
from sslcore.engine import TrainConfig, Trainer
from sslcore.engine.device import resolve_precision
from sslcore.engine.observability import peak_memory_mb
from sslcore.paradigms import PretextTask

from .timing import free_device_memory, sync


@dataclass
class Context:
    """What every family gets: where to run, how long, and the datasets built so far."""

    device: torch.device
    data_root: Path
    seconds: float  # training seconds per trainer-based family
    smoke: bool
    num_workers: int
    repeats: int
    deadline: float  # time.perf_counter() by which the whole benchmark must end
    cpu_too: bool = False
    probe_sklearn: bool = False
    ceilings: dict[str, Any] = field(default_factory=dict)
    bundles: dict[str, DatasetBundle] = field(default_factory=dict)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def bundle(self, name: str, **options: Any) -> DatasetBundle:
        """Registered dataset ``name`` built once per option set (from ``data_root``)."""
        key = f"{name}{sorted(options.items())}"
        if key not in self.bundles:
            self.bundles[key] = build_dataset(name, self.data_root, options)
        return self.bundles[key]


@dataclass(frozen=True)
class Recipe:
    """One family's task, encoder and training options (``train``: ``TrainConfig`` fields
    besides the budget, device and batch size)."""

    task: str
    encoder: str | None
    batch_size: int
    task_options: Mapping[str, Any] = field(default_factory=dict)
    encoder_options: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)

    def build(self, bundle: DatasetBundle) -> PretextTask:
        torch.manual_seed(0)
        return build_task(self.task, bundle, self.encoder, self.task_options, self.encoder_options)

    def config(self, ctx: Context, budget: Mapping[str, Any], log_every: int) -> TrainConfig:
        return TrainConfig(
            batch_size=self.batch_size,
            device=str(ctx.device),
            num_workers=ctx.num_workers,
            log_every=log_every,
            checkpoint_every=10**9,
            progress_bar=False,
            **{**self.train, **budget},
        )


def global_batch(bundle: DatasetBundle, config: TrainConfig) -> int:
    """Samples per optimisation step: the dataset's own batch size (1 for a full graph) or
    the config's, at most the dataset's length (what the trainer uses)."""
    return min(bundle.batch_size or config.batch_size, len(bundle.pretrain))  # type: ignore[arg-type]


def window_rates(history: list[dict[str, Any]], warm_windows: int) -> list[float]:
    """``samples_per_sec`` of the log windows after the first ``warm_windows`` (start-up:
    worker processes, cuDNN autotuning, compilation); all windows if too few."""
    rates = [float(r["samples_per_sec"]) for r in history]
    return rates[warm_windows:] if len(rates) > warm_windows else rates


def throughput(rates: list[float], batch: int) -> dict[str, Any]:
    """Samples/s, steps/s and step time (ms) from window rates: medians and the spread."""
    steps_ms = sorted(1000 * batch / r for r in rates)
    median_rate = statistics.median(rates)
    return {
        "samples_per_s": median_rate,
        "steps_per_s": median_rate / batch,
        "step_ms_median": statistics.median(steps_ms),
        "step_ms_min": steps_ms[0],
        "step_ms_max": steps_ms[-1],
        "windows": len(rates),
    }


def compute(flops: float | None, steps_per_s: float, ceilings: Mapping[str, Any]) -> dict[str, Any]:
    """Achieved TFLOP/s (FLOPs of one step x steps/s) and its fraction of the GEMM rate of
    the same run: bf16 on CUDA (the trainer's autocast), fp32 on the CPU."""
    reference = "bf16" if str(ceilings.get("device", "")).startswith("cuda") else "fp32"
    if flops is None:
        return {"flops_per_step": None, "achieved_tflops": None, "fraction_of_gemm": None}
    achieved = flops * steps_per_s / 1e12
    peak = ceilings.get(reference)
    return {
        "flops_per_step": flops,
        "achieved_tflops": achieved,
        "fraction_of_gemm": achieved / peak if peak else None,
        "gemm_dtype": reference,
    }


def memory(device: torch.device) -> dict[str, Any]:
    """Peak GPU memory allocated (CUDA), or the process's peak resident set so far (CPU)."""
    key = "peak_gpu_memory_mb" if device.type == "cuda" else "peak_rss_mb_process"
    return {key: round(peak_memory_mb(device), 1)}


def train_and_measure(
    ctx: Context,
    recipe: Recipe,
    bundle: DatasetBundle,
    budget: Mapping[str, Any],
    log_every: int,
    warm_windows: int = 1,
) -> dict[str, Any]:
    """Train ``recipe`` on ``bundle`` under ``budget`` (``seconds=`` / ``epochs=``) and
    measure it; then count the FLOPs of one step (``sslcore.compare.flops``)."""
    free_device_memory(ctx.device)
    task = recipe.build(bundle)
    config = recipe.config(ctx, budget, log_every)
    sync(ctx.device)
    start = time.perf_counter()
    result = Trainer(task, config).fit(bundle.pretrain, batch_size=bundle.batch_size)
    sync(ctx.device)
    wall = time.perf_counter() - start
    batch = global_batch(bundle, config)
    out: dict[str, Any] = {
        "task": recipe.task,
        "encoder": recipe.encoder,
        "task_options": dict(recipe.task_options),
        "encoder_options": dict(recipe.encoder_options),
        "train": {**recipe.train, **budget, "num_workers": config.num_workers, "log_every": log_every},
        "batch_size": batch,
        "precision": resolve_precision(config.precision, ctx.device),
        "steps": result.steps,
        "epochs": result.epochs,
        "wall_s": wall,
        "final_loss": result.final_loss,
        **throughput(window_rates(result.history, warm_windows), batch),
        **memory(ctx.device),
    }
    flops = flops_per_step(task, bundle.pretrain, batch)  # type: ignore[arg-type]
    out |= compute(flops, out["steps_per_s"], ctx.ceilings)
    del task
    free_device_memory(ctx.device)
    return out
