"""Input checks shared by the contrast kernels."""

from __future__ import annotations

import contextlib
from collections import deque

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


def check_rows(name: str, xs: dict[str, Tensor]) -> None:
    """Each of ``xs`` (argument name -> tensor) is a non-empty 2-D ``[N, d]`` tensor."""
    for arg, x in xs.items():
        if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(
                f"{name}: {arg} must be a non-empty 2-D [N, d] tensor, got shape {tuple(x.shape)}"
            )


def check_exclude(name: str, exclude: Tensor, q: Tensor) -> None:
    """``exclude`` is an integer ``[Nq]`` tensor on ``q``'s device."""
    if exclude.shape != (q.shape[0],) or exclude.dtype.is_floating_point or exclude.device != q.device:
        raise ValueError(
            f"{name}: exclude must be an integer [{q.shape[0]}] tensor on {q.device}, "
            f"got {exclude.dtype} {tuple(exclude.shape)} on {exclude.device}"
        )


class DeferredChecks:
    """Conditions computed on an accelerator and read back without a device-to-host sync.

    ``check(ok, message)`` first raises ``ValueError(message)`` for any earlier flag that has
    arrived ``False``, then queues a non-blocking copy of ``ok.all()`` into pinned host memory
    behind an event. A bad value is therefore reported by the next call after the device
    reached it (one training step later), instead of stalling every call on a sync.
    CPU flags are read at once.
    """

    def __init__(self, max_pending: int = 256) -> None:
        self._pending: deque[tuple[Tensor, torch.cuda.Event | None, str]] = deque()
        self.max_pending = max_pending

    def poll(self) -> None:
        """Raise for the first completed check that failed."""
        while self._pending:
            host, event, message = self._pending[0]
            if event is not None and not event.query():
                if len(self._pending) < self.max_pending:
                    return
                event.synchronize()  # bounded queue: wait for the oldest
            self._pending.popleft()
            if not bool(host):
                self._pending.clear()
                raise ValueError(message)

    def check(self, ok: Tensor, message: str) -> None:
        self.poll()
        flag = ok.all()
        if flag.device.type != "cuda":
            if not bool(flag):
                raise ValueError(message)
            return
        host = torch.empty((), dtype=torch.bool, pin_memory=True)
        stream = torch.cuda.current_stream(flag.device)
        with torch.cuda.stream(stream):
            host.copy_(flag, non_blocking=True)
        event = torch.cuda.Event()
        event.record(stream)
        self._pending.append((host, event, message))


#: the temperature checks of every contrast kernel (module-level: one queue per process)
DEFERRED = DeferredChecks()


def check_temperature(name: str, temperature: float | Tensor) -> None:
    """``temperature`` is a positive float or scalar tensor. A tensor on an accelerator is
    checked without a sync (:class:`DeferredChecks`): a value <= 0 raises at the next call,
    and the Triton kernels return NaN for it meanwhile."""
    if isinstance(temperature, Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{name}: temperature must be a scalar, got shape {tuple(temperature.shape)}")
        if temperature.device.type == "meta":
            return
        if temperature.device.type == "cpu":
            if not bool(temperature.reshape(()) > 0):
                raise ValueError(f"{name}: temperature must be > 0, got {temperature.item()}")
            return
        DEFERRED.check(
            temperature.detach() > 0,
            f"{name}: temperature must be > 0, got a {temperature.device} tensor <= 0 (checked without a "
            "sync, so reported by the call after the one that used it); parametrise a learnable "
            "temperature as exp(log_tau) to keep it positive",
        )
    elif not temperature > 0:
        raise ValueError(f"{name}: temperature must be > 0, got {temperature}")


def check_has_negatives(name: str, n: int, arg: str = "z1") -> None:
    """ValueError for an in-batch contrast of one sample: it has no negatives, so the loss
    would be constant (0 for NT-Xent) with zero gradient."""
    if n < 2:
        raise ValueError(
            f"{name}: {arg} has N={n} row; in-batch contrast needs N >= 2 samples so that each one "
            "has negatives (raise the batch size, or pass explicit negatives where the loss takes them)"
        )


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
