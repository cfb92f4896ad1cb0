"""Input checks shared by the contrast kernels."""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor


def check_pair(name: str, a: Tensor, b: Tensor, a_name: str = "z1", b_name: str = "z2") -> None:
    """Both 2-D, non-empty, same shape and device."""
    for t, n in ((a, a_name), (b, b_name)):
        if t.dim() != 2:
            raise ValueError(f"{name}: {n} must be 2-D [N, d], got shape {tuple(t.shape)}")
        if t.shape[0] == 0 or t.shape[1] == 0:
            raise ValueError(f"{name}: {n} is empty (shape {tuple(t.shape)})")
    if a.shape != b.shape:
        raise ValueError(
            f"{name}: {a_name} and {b_name} must have the same shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    if a.device != b.device:
        raise ValueError(f"{name}: {a_name} is on {a.device} but {b_name} is on {b.device}")


def check_temperature(name: str, temperature: float | Tensor) -> None:
    if isinstance(temperature, Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{name}: temperature must be a scalar, got shape {tuple(temperature.shape)}")
        if not bool((temperature > 0).all()):
            raise ValueError(f"{name}: temperature must be > 0, got {temperature.item()}")
    elif not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")


def compute_dtype(*tensors: Tensor) -> torch.dtype:
    """The dtype kernels compute in: float32 for low-precision inputs, float64 kept."""
    dtype = torch.float32
    for t in tensors:
        dtype = torch.promote_types(dtype, t.dtype)
    return dtype


def no_autocast(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Turn autocast off around a kernel body, so its matmuls stay in ``compute_dtype``
    when the caller's forward runs under bf16 / fp16 autocast."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def check_min_batch(name: str, n: int, minimum: int = 2, why: str = "batch statistics") -> None:
    """ValueError unless the batch has at least ``minimum`` rows (kernels with batch statistics)."""
    if n < minimum:
        raise ValueError(f"{name}: needs at least {minimum} samples (N >= {minimum}) for {why}, got N={n}")
