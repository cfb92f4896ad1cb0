"""Training configuration, validated on construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sslcore.errors import ConfigError, suggest

OPTIMIZERS = ("adamw", "adam", "sgd")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NAN_POLICIES = ("stop", "skip")


@dataclass
class TrainConfig:
    """Everything the trainer needs besides the task and the data.

    The budget is ``epochs``, ``steps`` or ``seconds`` (training stops at whichever is
    reached first); the learning-rate schedule (linear warmup over the first ``warmup``
    fraction of the budget, then cosine decay to ``min_lr_ratio * lr``) follows the
    fraction of that budget used.

    Under ``torchrun`` (several processes) ``batch_size`` is the *global* batch, split
    evenly over the processes, so a run follows the same trajectory on any number of
    processes. ``precision``: ``auto`` (bf16 autocast on a CUDA device with bf16, else fp32),
    ``fp32``, ``bf16`` autocast (CPU and CUDA) or ``fp16`` autocast with loss scaling (CUDA
    only); ``device``: ``auto``, ``cpu``, ``cuda[:N]`` (see :mod:`sslcore.engine.device`). ``nan_policy``: on a NaN or infinite loss,
    ``stop`` (raise, keeping the last good checkpoint) or ``skip`` the step.
    ``sync_batchnorm``: convert BatchNorm to SyncBatchNorm under DDP (CUDA).
    ``find_unused_parameters``: DDP's option (needed when a step leaves some parameters
    without a gradient, e.g. the alternating adversarial schedule). ``tensorboard``:
    also write TensorBoard events to ``<output>/tensorboard`` (needs ``tensorboard``).

    On a GPU: ``compile`` runs the task's losses through ``torch.compile`` (opt-in: the first
    steps pay the compilation); ``channels_last`` (None: on CUDA when the task has a 2-D
    convolution) stores the model and 4-D image batches NHWC, the layout cuDNN's tensor-core
    convolutions want; ``cudnn_benchmark`` lets cuDNN pick the fastest convolution algorithm
    for the (fixed) input shapes. The DataLoader pins host memory on CUDA and keeps its
    workers alive across epochs.
    """

    epochs: float | None = None
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 256
    optimizer: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup: float = 0.05
    min_lr_ratio: float = 0.0
    grad_clip: float | None = None
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    nan_policy: Literal["stop", "skip"] = "stop"
    seed: int = 0
    num_workers: int = 0
    threads: int | None = None
    device: str = "auto"
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    progress_bar: bool = True
    sync_batchnorm: bool = False
    find_unused_parameters: bool = True
    tensorboard: bool = False
    compile: bool = False
    channels_last: bool | None = None
    cudnn_benchmark: bool = True

    def __post_init__(self) -> None:
        if self.epochs is None and self.steps is None and self.seconds is None:
            raise ConfigError("no training budget: set epochs, steps or seconds")
        for name in ("epochs", "steps", "seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name} must be > 0, got {value}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}{suggest(self.optimizer, OPTIMIZERS)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision {self.precision!r} is not one of {PRECISIONS}{suggest(self.precision, PRECISIONS)}"
            )
        if self.nan_policy not in NAN_POLICIES:
            raise ConfigError(f"nan_policy {self.nan_policy!r} is not one of {NAN_POLICIES}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not 0 <= self.warmup < 1:
            raise ConfigError(f"warmup is a fraction of the budget in [0, 1), got {self.warmup}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio is a fraction of lr in [0, 1], got {self.min_lr_ratio}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"grad_clip must be > 0, got {self.grad_clip}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1, got {self.threads}")
        if self.log_every < 1 or self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise ConfigError("log_every, checkpoint_every and keep_checkpoints must be >= 1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Build from a mapping, rejecting unknown keys with the closest valid one."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise ConfigError(
                    f"unknown training option {key!r}{suggest(key, names)} Valid: {', '.join(names)}."
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
