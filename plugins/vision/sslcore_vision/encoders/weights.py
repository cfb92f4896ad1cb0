"""Encoder weights from a local file (never downloaded): safetensors or a torch checkpoint.

A file may hold the encoder's own ``state_dict`` (``encoder.state_dict()``, ``sslcore
export``), a state dict under ``"state_dict"`` or ``"model"`` (a training checkpoint),
and its keys may carry a ``module.`` (DDP) or ``encoder.`` (a task's checkpoint: the
encoder's part is taken, its heads left out) prefix. An encoder can also pass ``adapt``
to read another layout of the same model (a plain timm checkpoint). Keys or shapes that
do not match raise :class:`~sslcore.ConfigError` when the encoder is built, before training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sslcore import ConfigError

StateDict = dict[str, Tensor]
#: prefixes stripped (keeping only the keys under them) when the keys do not match as they are
PREFIXES = ("module.", "encoder.", "module.encoder.")
_SHOWN = 5


def read_state_dict(path: str | os.PathLike[str]) -> StateDict:
    """The tensors of a ``.safetensors`` file (``safetensors.torch.load_file``) or a torch
    checkpoint (``torch.load(weights_only=True)``: a bare state dict, or one under
    ``"state_dict"`` / ``"model"``), on the CPU."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(
            f"weights file {file} not found; give the path of a local .safetensors file or torch "
            "checkpoint (weights are never downloaded)"
        )
    try:
        state: Any = _load(file)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a configuration problem
        raise ConfigError(
            f"cannot read weights {file} ({type(exc).__name__}: {exc}); give a .safetensors file or a "
            "torch checkpoint holding a state dict"
        ) from exc
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
            break
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)} if isinstance(state, Mapping) else {}
    if not tensors:
        raise ConfigError(f"weights {file} hold no state dict of tensors (found {type(state).__name__})")
    return tensors


def _load(file: Path) -> Any:
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(file, device="cpu")
    return torch.load(file, map_location="cpu", weights_only=True)


def load_weights(
    module: nn.Module,
    path: str | os.PathLike[str],
    owner: str,
    adapt: Callable[[StateDict], StateDict] | None = None,
    fix: str = "build the encoder with the options the weights were trained with",
) -> None:
    """Load the weights at ``path`` into ``module`` (strictly: every key, every shape).

    The file's keys are tried as they are, then under each of :data:`PREFIXES`, each also
    through ``adapt`` (another layout of the same model); the first exact match is
    loaded. Otherwise :class:`~sslcore.ConfigError` names ``owner``, the first missing
    and unexpected keys (or mismatched shapes) of the closest candidate, and ``fix``."""
    state = read_state_dict(path)
    expected = module.state_dict()
    candidates = [state] + [_under(state, p) for p in PREFIXES]
    candidates = [c for c in candidates if c]
    if adapt is not None:
        candidates += [adapt(dict(c)) for c in candidates]
    best = max(candidates, key=lambda c: len(c.keys() & expected.keys()) - len(c.keys() - expected.keys()))
    for candidate in candidates:
        if candidate.keys() == expected.keys():
            best = candidate
            break
    missing = sorted(expected.keys() - best.keys())
    unexpected = sorted(best.keys() - expected.keys())
    shapes = [
        f"{k}: file {tuple(best[k].shape)} vs encoder {tuple(v.shape)}"
        for k, v in expected.items()
        if k in best and best[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_first(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_first(unexpected)}")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatch(es): {_first(shapes)}")
        raise ConfigError(
            f"{owner}: the weights {path} do not fit the encoder: {'; '.join(parts)}. Fix: {fix}"
        )
    module.load_state_dict(best)


def _under(state: StateDict, prefix: str) -> StateDict:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _first(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f", ... ({len(items) - _SHOWN} more)" if len(items) > _SHOWN else "")
