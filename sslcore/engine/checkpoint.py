"""Checkpoints: atomic writes, keep the last K, load without executing code.

Files are ``<run>/checkpoints/step_00000100.pt`` written by ``torch.save`` to a temporary
file and renamed; they are read back with ``torch.load(weights_only=True)``, so a
checkpoint never runs code. A truncated or corrupt file is reported and the previous
one is used.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslcore.errors import CheckpointError
from sslcore.io import atomic_write

PATTERN = "step_*.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically to ``path``."""
    return atomic_write(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``); CheckpointError if it is unreadable."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(exc).__name__}: {exc}); "
            "delete it to fall back to the previous one"
        ) from exc
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"checkpoint {path} is not an sslcore checkpoint (no 'model' entry)")
    return state


class CheckpointDir:
    """The checkpoints of one run, newest last."""

    def __init__(self, folder: str | Path, keep: int = 2):
        self.folder, self.keep = Path(folder), keep

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob(PATTERN)) if self.folder.is_dir() else []

    def save(self, step: int, state: dict[str, Any]) -> Path:
        path = save_checkpoint(self.folder / f"step_{step:08d}.pt", state)
        for old in self.paths()[: -self.keep]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest readable checkpoint; unreadable newer ones are skipped with a warning."""
        for path in reversed(self.paths()):
            try:
                return path, load_checkpoint(path)
            except CheckpointError as exc:
                warnings.warn(f"{exc}; trying the previous checkpoint", stacklevel=2)
        return None


def rng_state() -> dict[str, Any]:
    """Random states of Python, NumPy and torch, in a ``weights_only``-loadable form."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    state = {
        "python": [version, list(internal), py_gauss],
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, py_gauss = state["python"]
    random.setstate((version, tuple(internal), py_gauss))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
