"""Choosing the implementation behind a contrast kernel's signature.

- ``"reference"``: the plain materialised computation (the test oracle), O(N²) memory;
- ``"tiled"``: streamed tiles with an online log-sum-exp (:mod:`sslcore.contrast.tiled`),
  O(N·d + N) extra memory, any device;
- ``"triton"``: the fused GPU kernels (CUDA tensors only);
- ``"auto"``: ``"triton"`` for CUDA tensors when Triton is importable, else ``"tiled"``.
"""

from __future__ import annotations

import importlib.util
import os

import torch
from torch import Tensor

from sslcore.contrast.tiled import cross_logsumexp, self_logsumexp

BACKENDS = ("auto", "reference", "tiled", "triton")


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_backend(kernel: str, backend: str, tensor: Tensor) -> str:
    """The concrete backend for ``kernel`` on ``tensor``'s device; ValueError for bad names
    or a Triton request that cannot run."""
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
    return backend


def self_lse(u: Tensor, temperature: float | Tensor, backend: str) -> Tensor:
    """:func:`~sslcore.contrast.tiled.self_logsumexp` on the tiled or Triton backend."""
    if backend == "triton":
        from sslcore.contrast.triton_lse import triton_self_logsumexp  # imports triton lazily

        return triton_self_logsumexp(u, temperature)
    return self_logsumexp(u, temperature)


def cross_lse(
    q: Tensor,
    k: Tensor,
    temperature: float | Tensor,
    backend: str,
    columns: bool = False,
    exclude: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """:func:`~sslcore.contrast.tiled.cross_logsumexp` on the tiled or Triton backend."""
    if backend == "triton":
        from sslcore.contrast.triton_lse import triton_cross_logsumexp

        return triton_cross_logsumexp(q, k, temperature, columns=columns, exclude=exclude)
    return cross_logsumexp(q, k, temperature, columns=columns, exclude=exclude)


def row_logsumexp(
    q: Tensor, k: Tensor, temperature: float | Tensor, exclude: Tensor | None, backend: str
) -> Tensor:
    """Row log-sum-exp of ``q @ k.T / tau`` leaving out ``(i, exclude[i])``: materialised for
    ``backend="reference"``, streamed (tiled or Triton) otherwise."""
    if backend != "reference":
        return cross_lse(q, k, temperature, backend, exclude=exclude)[0]
    s = q @ k.T / temperature
    if exclude is not None:
        s = s.masked_fill(
            exclude[:, None] == torch.arange(k.shape[0], device=k.device)[None, :], float("-inf")
        )
    return torch.logsumexp(s, dim=1)
