"""Choosing the implementation behind a contrast kernel's signature.

- ``"reference"``: the plain materialised computation (the test oracle), O(N²) memory;
- ``"tiled"``: streamed tiles with an online log-sum-exp (:mod:`sslcore.contrast.tiled`),
  O(N·d + N) extra memory, any device;
- ``"triton"``: the fused GPU kernels (:mod:`sslcore.contrast.triton_lse`; CUDA tensors);
- ``"flex"``: torch's FlexAttention (:mod:`sslcore.contrast.flex_lse`; CUDA tensors);
- ``"auto"``: ``"triton"`` for CUDA tensors when Triton is importable, else ``"tiled"``.

On the fused GPU backends (``triton``, ``flex``) fp16 / bf16 inputs stay in their dtype
(tensor-core tiles, fp32 accumulation); the other backends compute in fp32 (fp64 kept).
Why ``auto`` is what it is: docs/contrast_kernels.md ("Choosing a backend").
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from sslcore.contrast._checks import compute_dtype
from sslcore.contrast.tiled import cross_logsumexp, self_logsumexp

BACKENDS = ("auto", "reference", "tiled", "triton", "flex")
FUSED = ("triton", "flex")


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_backend(kernel: str, backend: str, tensor: Tensor) -> str:
    """The concrete backend for ``kernel`` on ``tensor``'s device; ValueError for bad names
    or a GPU backend that cannot run."""
    if backend not in BACKENDS:
        raise ValueError(
            f"{kernel}: backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
        )
    # TRITON_INTERPRET=1 runs Triton kernels on CPU tensors (used by the tests)
    on_device = tensor.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"
    gpu_ok = on_device and triton_available()
    if backend == "auto":
        return "triton" if gpu_ok and tensor.is_cuda else "tiled"
    if backend == "triton" and not gpu_ok:
        why = "its inputs are not CUDA tensors" if not tensor.is_cuda else "Triton is not installed"
        raise ValueError(f"{kernel}: backend 'triton' cannot run because {why}; use 'tiled' or 'auto'")
    if backend == "flex" and not tensor.is_cuda:
        raise ValueError(
            f"{kernel}: backend 'flex' needs CUDA tensors (FlexAttention has no backward on "
            f"{tensor.device}); use 'tiled' or 'auto'"
        )
    return backend


def half_dtype(*tensors: Tensor) -> torch.dtype | None:
    """The inputs' dtype when they all share one half-precision dtype (fp16 / bf16), else None."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1 and (dt := dtypes.pop()) in (torch.float16, torch.bfloat16):
        return dt
    return None


def kernel_rows(x: Tensor, backend: str, dtype: torch.dtype | None) -> tuple[Tensor, Tensor]:
    """``(rows the log-sum-exp kernel reads, the same rows in the compute dtype)``: on the
    fused GPU backends, half-precision inputs (``dtype``, from :func:`half_dtype`) go back to
    that dtype so that the kernel multiplies them on the tensor cores, and the positive term
    is computed from the same rounded rows; elsewhere both are ``x``."""
    if backend in FUSED and dtype is not None and x.dtype != dtype:
        low = x.to(dtype)
        return low, low.to(compute_dtype(low))
    return x, x


def _fused(backend: str, kernel: str) -> Callable[..., Any] | None:
    """``triton_<kernel>`` / ``flex_<kernel>`` of a fused backend (imports Triton lazily), else None."""
    if backend not in FUSED:
        return None
    return getattr(importlib.import_module(f"sslcore.contrast.{backend}_lse"), f"{backend}_{kernel}")


def self_lse(u: Tensor, temperature: float | Tensor, backend: str) -> Tensor:
    """:func:`~sslcore.contrast.tiled.self_logsumexp` on the tiled, Triton or Flex backend."""
    return (_fused(backend, "self_logsumexp") or self_logsumexp)(u, temperature)


def cross_lse(
    q: Tensor,
    k: Tensor,
    temperature: float | Tensor,
    backend: str,
    columns: bool = False,
    exclude: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`~sslcore.contrast.tiled.cross_logsumexp` on the tiled, Triton or Flex backend."""
    kernel = _fused(backend, "cross_logsumexp") or cross_logsumexp
    return kernel(q, k, temperature, columns=columns, exclude=exclude)


def row_logsumexp(
    q: Tensor, k: Tensor, temperature: float | Tensor, exclude: Tensor | None, backend: str
) -> Tensor:
    """Row log-sum-exp of ``q @ k.T / tau`` leaving out ``(i, exclude[i])``: materialised for
    ``backend="reference"``, streamed (tiled, Triton or Flex) otherwise."""
    if backend != "reference":
        return cross_lse(q, k, temperature, backend, exclude=exclude)[0]
    s = q @ k.T / temperature
    if exclude is not None:
        s = s.masked_fill(
            exclude[:, None] == torch.arange(k.shape[0], device=k.device)[None, :], float("-inf")
        )
    return torch.logsumexp(s, dim=1)
