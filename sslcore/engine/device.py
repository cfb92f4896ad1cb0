"""The one place that turns a ``device`` / ``precision`` setting into what runs: every entry
point resolves through here before any data is loaded, so a bad setting fails at once."""

from __future__ import annotations

import os

import torch

from sslcore.engine.config import PRECISIONS
from sslcore.errors import ConfigError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when a GPU is visible (``cuda:LOCAL_RANK`` under torchrun), else the
    CPU; otherwise the named device, checked to exist: ``"cuda"`` without a GPU or ``"cuda:3"``
    on a one-GPU machine is a :class:`ConfigError`."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"device {device!r} is not a device torch knows ({exc}); use 'auto', 'cpu' or 'cuda[:N]'"
        ) from exc
    if resolved.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"device {str(device)!r} asks for a GPU, but torch sees no CUDA device "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}); use --device cpu or auto"
            )
        if resolved.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if resolved.index is not None and resolved.index >= count:
            raise ConfigError(
                f"device {str(resolved)!r} does not exist: this machine has {count} CUDA device(s), "
                f"cuda:0 to cuda:{count - 1}"
            )
    elif resolved.type not in ("cpu", "mps", "meta"):
        raise ConfigError(f"device {str(device)!r}: sslcore trains on 'cpu' or 'cuda[:N]' (or 'auto')")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"``: bf16 autocast on a CUDA device that supports bf16, else fp32. An explicit
    setting is checked against the device: fp16 needs CUDA (loss scaling), bf16 on a GPU
    needs bf16 support (Ampere or newer)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    cuda = device.type == "cuda"
    if precision == "auto":
        return "bf16" if cuda and torch.cuda.is_bf16_supported() else "fp32"
    if precision == "fp16" and not cuda:
        raise ConfigError(
            f"precision 'fp16' needs CUDA (loss scaling with torch.amp.GradScaler), but the device "
            f"is {device.type}; use precision 'bf16' on CPU"
        )
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise ConfigError(
            f"precision 'bf16': {name} has no bf16 support; use 'fp16' (loss scaling) or 'fp32'"
        )
    return precision
