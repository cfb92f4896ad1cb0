"""Checking the device contract without a GPU.

The contract (docs/plugins.md, "Devices"): ``collate`` runs on the CPU in DataLoader
workers, builds CPU tensors only and never reads the task's parameters or buffers; the
engine moves the batch; ``on_after_batch_transfer``, ``forward``, the adversarial losses and
``embed`` create tensors on their inputs' device. On a CPU-only machine every device is the
CPU, so breaking the contract goes unnoticed until the task meets a GPU. Three checks make it
visible here:

- :func:`collate_stays_on_cpu`: ``collate`` runs with the task's parameters and buffers on
  the ``meta`` device (data-less tensors); reading them fails, or leaks ``meta`` tensors into
  the batch;
- :func:`default_device_creations`: a ``TorchFunctionMode`` records every factory call
  (``torch.zeros``, ``torch.arange``, ``torch.randn``, ``torch.tensor``...) made without
  ``device=`` from the checked packages' own code, with the file and line: on a GPU that
  tensor would land on the CPU and meet the batch's CUDA tensors (a line that means it, e.g.
  CPU-side sampling whose result is moved, says so with a ``# device-ok: <why>`` comment);
- :func:`unregistered_tensors`: plain tensor attributes of the task's modules, which
  ``task.to(device)`` does not move (register them as buffers).
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

#: factories whose result lands on the default device unless ``device=`` is given
FACTORIES = frozenset(
    getattr(torch, name)
    for name in (
        "arange", "empty", "eye", "full", "linspace", "logspace", "ones", "rand", "randint",
        "randn", "randperm", "scalar_tensor", "tensor", "tril_indices", "triu_indices", "zeros",
    )
)  # fmt: skip
#: reads of a tensor's value back to the host: a device-to-host sync on a GPU
HOST_READS = frozenset({torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.tolist})
#: a comment on the line that says a CPU tensor (or a host read) is meant
OPT_OUT = "device-ok"
_TORCH_DIR = str(Path(torch.__file__).parent) + os.sep
_THIS_FILE = __file__


@dataclass(frozen=True)
class Creation:
    """One factory call without ``device=`` (or, ``read=True``, one host read): where, and what."""

    function: str
    filename: str
    lineno: int
    read: bool = False

    def __str__(self) -> str:
        code = linecache.getline(self.filename, self.lineno).strip()
        read = f"Tensor.{self.function}() reads a value back (a GPU sync every step)"
        what = read if self.read else f"torch.{self.function}(...) without device="
        return f"{self.filename}:{self.lineno}: {what}  | {code}"


def _call_site() -> tuple[str, int]:
    """File and line of the first frame outside torch and this module."""
    frame = sys._getframe(2)
    while frame is not None and (
        frame.f_code.co_filename.startswith(_TORCH_DIR) or frame.f_code.co_filename == _THIS_FILE
    ):
        frame = frame.f_back  # type: ignore[assignment]
    return (frame.f_code.co_filename, frame.f_lineno) if frame is not None else ("?", 0)


class _DefaultDeviceCreations(TorchFunctionMode):
    def __init__(self, roots: tuple[str, ...], reads: bool):
        super().__init__()
        self.roots, self.reads = roots, reads
        self.found: list[Creation] = []

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        read = self.reads and func in HOST_READS
        copy = func is torch.tensor and bool(args) and isinstance(args[0], torch.Tensor)  # keeps its device
        if read or (func in FACTORIES and kwargs.get("device") is None and not copy):
            filename, lineno = _call_site()
            if filename.startswith(self.roots) and OPT_OUT not in linecache.getline(filename, lineno):
                self.found.append(Creation(func.__name__, filename, lineno, read))
        return func(*args, **kwargs)


def package_roots(*objects: Any) -> tuple[str, ...]:
    """The source folders of the top-level packages that define ``objects`` (classes or
    instances), plus sslcore's (the core's kernels run inside every task)."""
    roots = {str(Path(sys.modules["sslcore"].__file__).parent) + os.sep}  # type: ignore[arg-type]
    for obj in objects:
        name = (obj if isinstance(obj, type) else type(obj)).__module__
        top = getattr(sys.modules.get(name.split(".")[0]), "__file__", None)
        path = top or getattr(sys.modules.get(name), "__file__", None)  # a module outside any package
        if path:
            roots.add(str(Path(path).parent) + os.sep)
    return tuple(sorted(roots))


@contextlib.contextmanager
def default_device_creations(roots: tuple[str, ...], host_reads: bool = False) -> Iterator[list[Creation]]:
    """Collect the factory calls without ``device=`` (and, with ``host_reads``, the reads of a
    tensor's value: ``.item()``, ``float()``, ``int()``, ``.tolist()``) made from code under
    ``roots`` (sslcore's own ``testing`` package excluded) while the block runs."""
    mode = _DefaultDeviceCreations(roots, host_reads)
    with mode:
        yield mode.found
    testing = str(Path(__file__).parent) + os.sep
    mode.found[:] = [c for c in mode.found if not c.filename.startswith(testing)]


@contextlib.contextmanager
def state_on_meta(module: nn.Module) -> Iterator[None]:
    """Every parameter and buffer of ``module`` swapped for a data-less ``meta`` tensor of the
    same shape and dtype inside the block; restored after."""
    saved: list[tuple[dict[str, Any], str, Any]] = []
    for owner in module.modules():
        for store in (owner._parameters, owner._buffers):
            for name, t in list(store.items()):
                if t is not None:
                    saved.append((store, name, t))
                    meta = torch.empty_like(t, device="meta")
                    store[name] = nn.Parameter(meta, t.requires_grad) if isinstance(t, nn.Parameter) else meta
    try:
        yield
    finally:
        for store, name, t in saved:
            store[name] = t


def tensors_in(batch: Any) -> Iterator[torch.Tensor]:
    """Every tensor in a (nested) batch: tensors, sequences, mappings, objects with ``__dict__``
    (PyG ``Data`` stores its tensors in stores reachable through ``to_dict``)."""
    if isinstance(batch, torch.Tensor):
        yield batch
    elif isinstance(batch, (dict, list, tuple)):
        for v in batch.values() if isinstance(batch, dict) else batch:
            yield from tensors_in(v)
    elif hasattr(batch, "to_dict"):
        yield from tensors_in(batch.to_dict())
    elif hasattr(batch, "keys") and hasattr(batch, "__getitem__"):
        for k in batch.keys():
            yield from tensors_in(batch[k])


_COLLATE_RULE = (
    "collate runs on the CPU in DataLoader workers: build the batch from the samples alone and do "
    "the rest in on_after_batch_transfer or forward"
)


def collate_stays_on_cpu(task: nn.Module, samples: list[Any]) -> str | None:
    """None, or why ``task.collate(samples)`` breaks the contract (reads the task's state, or
    returns non-CPU tensors)."""
    with state_on_meta(task):
        try:
            batch = task.collate(samples)  # type: ignore[operator]
        except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
            return f"collate failed with the task's parameters and buffers on another device ({exc}); {_COLLATE_RULE}"
    devices = {t.device.type for t in tensors_in(batch)} - {"cpu"}
    if devices:
        return f"collate returned tensors on {sorted(devices)}, built from the task's state; {_COLLATE_RULE}"
    return None


def unregistered_tensors(task: nn.Module) -> list[str]:
    """``module.attr`` names of plain tensor attributes (not parameters or buffers)."""
    return [
        f"{prefix or type(task).__name__}.{name}"
        for prefix, module in task.named_modules()
        for name, value in vars(module).items()
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter)
    ]
