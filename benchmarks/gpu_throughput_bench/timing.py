"""Clocks and ceilings: wall time that waits for the device, and the matrix-product rates
a run's achieved FLOP/s are compared with (measured in the same run)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

T = TypeVar("T")


def sync(device: torch.device) -> None:
    """Wait for the work queued on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """``(fn(), seconds)``: wall time with the device synchronised at both ends only."""
    sync(device)
    start = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - start


def median_of(values: list[float]) -> dict[str, Any]:
    """The median of timings with the runs themselves (for the JSON record)."""
    return {"median": statistics.median(values), "runs": values}


@contextmanager
def float32_matmul(precision: str) -> Iterator[None]:
    """``torch.set_float32_matmul_precision(precision)`` inside the block, restored after
    (``"highest"``: true fp32; ``"high"``: TF32 tensor cores on CUDA)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def gemm_tflops(n: int, dtype: torch.dtype, device: torch.device, repeats: int, precision: str) -> float:
    """TFLOP/s of ``n x n @ n x n`` products (``2 n^3`` FLOPs each) on random data, the mean
    of ``repeats`` products after two warm-up products."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    with float32_matmul(precision):
        for _ in range(2):
            torch.matmul(a, b, out=out)

        def run() -> None:
            for _ in range(repeats):
                torch.matmul(a, b, out=out)

        _, seconds = timed(run, device)
    return 2 * n**3 * repeats / seconds / 1e12


def matmul_ceilings(device: torch.device, n: int, repeats: int) -> dict[str, Any]:
    """bf16, TF32 (CUDA only) and fp32 GEMM rates in TFLOP/s at size ``n``."""
    rates: dict[str, Any] = {"n": n, "repeats": repeats, "device": str(device)}
    rates["bf16"] = gemm_tflops(n, torch.bfloat16, device, repeats, "highest")
    if device.type == "cuda":
        rates["tf32"] = gemm_tflops(n, torch.float32, device, repeats, "high")
    rates["fp32"] = gemm_tflops(n, torch.float32, device, repeats, "highest")
    return rates


def free_device_memory(device: torch.device) -> None:
    """Release cached blocks and restart the peak-memory counter between families."""
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
