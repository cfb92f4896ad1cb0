"""What the metrics log records besides the loss: peak memory, and optional TensorBoard
event files (``tensorboard`` is an optional dependency) beside ``metrics.jsonl``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from sslcore.errors import ConfigError


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory so far in MiB: ``torch.cuda.max_memory_allocated`` on CUDA, the
    process's maximum resident set size (``getrusage``) elsewhere."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource
    except ImportError:  # Windows
        return float("nan")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def check_tensorboard() -> None:
    if not tensorboard_available():
        raise ConfigError(
            "tensorboard=True needs the optional dependency `tensorboard` (pip install tensorboard); "
            "the JSONL log is written without it"
        )


class TensorBoardLog:
    """Scalars of each log record as TensorBoard events under ``folder``, tagged ``train/<key>``;
    ``purge_step``: on resume, events from this step on are dropped (as the JSONL log is truncated)."""

    SKIP = ("step", "epoch", "elapsed")

    def __init__(self, folder: str | Path, purge_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)

    def write(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        for key, value in record.items():
            if key not in self.SKIP and isinstance(value, (int, float)):
                self.writer.add_scalar(f"train/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
