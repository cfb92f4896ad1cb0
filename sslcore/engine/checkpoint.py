"""Checkpoints ``<run>/checkpoints/step_00000100.pt``: atomic writes, verified pruning, load
without executing code, unreadable ones set aside (``docs/distributed.md``, "Checkpoints")."""

from __future__ import annotations

import random
import re
import shutil
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslcore.errors import CheckpointError
from sslcore.io import atomic_write

NAME = re.compile(r"step_(\d+)\.pt")


def checkpoint_step(path: str | Path) -> int | None:
    """The step in a checkpoint's file name (``step_00000100.pt`` -> 100), or None."""
    match = NAME.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


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
    named = checkpoint_step(path)
    if named is not None and "step" in state and state["step"] != named:
        raise CheckpointError(
            f"checkpoint {path} holds step {state['step']}, not the step {named} its name says "
            "(renamed or copied by hand?); delete it or give it its step's name"
        )
    return state


class CheckpointDir:
    """The checkpoints of one run, ordered by step (newest last)."""

    def __init__(self, folder: str | Path, keep: int = 2):
        self.folder, self.keep = Path(folder), keep

    def paths(self) -> list[Path]:
        """Checkpoint files ``step_<N>.pt`` by step number (not by name: 10**8 follows 99999999)."""
        if not self.folder.is_dir():
            return []
        found = [(checkpoint_step(p), p) for p in self.folder.glob("step_*.pt")]
        return [p for step, p in sorted((s, p) for s, p in found if s is not None)]

    def save(self, step: int, state: dict[str, Any]) -> Path:
        """Write, verify (every zip record's CRC read back, nothing unpickled), then prune: of the
        checkpoints up to ``step`` the newest ``keep`` stay (the one just written among them)."""
        path = save_checkpoint(self.folder / f"step_{step:08d}.pt", state)
        try:
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
        except (OSError, zipfile.BadZipFile) as exc:
            raise CheckpointError(f"checkpoint {path} did not verify after writing ({exc})") from exc
        if bad is not None:
            raise CheckpointError(f"checkpoint {path} did not verify after writing: record {bad} is corrupt")
        older = [p for p in self.paths() if checkpoint_step(p) < step]  # type: ignore[operator]
        for old in older[: max(len(older) - (self.keep - 1), 0)]:
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

    def set_aside_after(self, step: int) -> list[Path]:
        """Move the checkpoints newer than ``step`` (unreadable ones a resume skipped) to
        ``checkpoints/unreadable/``, out of the run's line of steps; returns their new paths."""
        moved = []
        for path in self.paths():
            if checkpoint_step(path) > step:  # type: ignore[operator]
                target = self.folder / "unreadable" / path.name
                target.parent.mkdir(exist_ok=True)
                shutil.move(path, target)
                moved.append(target)
        return moved


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
