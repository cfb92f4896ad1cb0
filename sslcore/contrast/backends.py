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

from torch import Tensor

BACKENDS = ("auto", "reference", "tiled", "triton")


def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def resolve_backend(kernel: str, backend: str, tensor: Tensor, has_triton_kernel: bool = True) -> str:
    """The concrete backend for ``kernel`` on ``tensor``'s device; ValueError for bad names
    or a Triton request that cannot run."""
    if backend not in BACKENDS:
        raise ValueError(
            f"{kernel}: backend must be one of {', '.join(map(repr, BACKENDS))}, got {backend!r}"
        )
    # TRITON_INTERPRET=1 runs Triton kernels on CPU tensors (used by the tests)
    on_device = tensor.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"
    gpu_ok = on_device and has_triton_kernel and triton_available()
    if backend == "auto":
        return "triton" if gpu_ok and tensor.is_cuda else "tiled"
    if backend == "triton" and not gpu_ok:
        why = "its inputs are not CUDA tensors" if not tensor.is_cuda else "Triton is not installed"
        raise ValueError(f"{kernel}: backend 'triton' cannot run because {why}; use 'tiled' or 'auto'")
    return backend
