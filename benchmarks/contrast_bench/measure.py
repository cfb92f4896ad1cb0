"""One CUDA-mode measurement (also on the CPU, for ``--smoke``): forward + backward time, extra
peak memory, the GEMM rates of the floor, parity against float64."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .losses import TAU, make_loss, median_seconds
from .plan import PARITY_BOUNDS, PARITY_TAU, Parity, Timing, floor_flops, rate_name

if TYPE_CHECKING:
    import torch
    from torch import Tensor


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp64": torch.float64}[name]


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def precision(prec: str) -> contextlib.AbstractContextManager[None]:
    """sslcore's fp32 product mode for the Triton kernels: ``ieee`` or the default ``tf32``."""
    from sslcore.contrast.precision import fp32_precision

    return fp32_precision("ieee" if prec == "ieee" else "tf32")


def describe(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()] or [""]
    return f"{type(exc).__name__}: {lines[0]}"[:300]


def bench_ms(fn: Callable[[], object], device: str, rep_ms: float, repeats: int) -> float:
    """Median milliseconds of ``fn``: ``triton.testing.do_bench`` on CUDA, else ``repeats`` timed calls."""
    if device == "cuda":
        import triton.testing

        return float(triton.testing.do_bench(fn, warmup=25, rep=int(rep_ms), return_mode="median"))
    return 1e3 * median_seconds(fn, repeats, lambda: None)


def gemm_rates(device: str, size: int, repeats: int) -> dict[str, float]:
    """FLOP/s of a ``size``³ matrix product: fp32, fp32 with TF32 allowed, bf16."""
    import torch

    rates = {}
    for name, dtype, mode in (
        ("fp32", "fp32", "highest"),
        ("tf32", "fp32", "high"),
        ("bf16", "bf16", "highest"),
    ):
        x = torch.randn(size, size, device=device, dtype=torch_dtype(dtype))
        y = torch.randn(size, size, device=device, dtype=torch_dtype(dtype))
        saved = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision(mode)
        try:
            ms = bench_ms(lambda x=x, y=y: x @ y, device, 100, repeats)
        finally:
            torch.set_float32_matmul_precision(saved)
        rates[name] = 2 * size**3 / (ms / 1e3)
    return rates


def timing_step(item: Timing, device: str) -> tuple[Callable[[], None], tuple[Tensor, Tensor]]:
    """(one forward + backward of ``item`` that clears the gradients first, its two inputs)."""
    import torch

    g = torch.Generator(device=device).manual_seed(0)
    shape, dtype = (item.pairs, item.dim), torch_dtype(item.dtype)
    a, b = (torch.randn(shape, device=device, dtype=dtype, generator=g).requires_grad_() for _ in range(2))
    loss_fn = make_loss(item.impl, TAU)

    def step() -> None:
        a.grad = b.grad = None
        loss_fn(a, b).backward()

    return step, (a, b)


def peak_extra(step: Callable[[], None], inputs: tuple[Tensor, ...], device: str) -> tuple[int | None, float]:
    """(allocator peak during one ``step`` minus what was allocated before it with the inputs'
    gradients freed, its seconds)."""
    import torch

    for t in inputs:
        t.grad = None
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    start = time.perf_counter()
    step()
    sync(device)
    seconds = time.perf_counter() - start
    extra = torch.cuda.max_memory_allocated() - base if device == "cuda" else None
    return extra, seconds


def measure_timing(item: Timing, device: str, rates: dict[str, float], repeats: int) -> dict[str, Any]:
    step, inputs = timing_step(item, device)
    with precision("tf32"):
        start = time.perf_counter()
        step()  # autotuning / compilation happen here
        sync(device)
        warm = time.perf_counter() - start
        extra, seconds = peak_extra(step, inputs, device)
        ms = bench_ms(step, device, max(100.0, 3e3 * seconds), repeats)
    floor_ms = 1e3 * floor_flops(item.pairs, item.dim) / rates[rate_name(item.dtype)]
    return {
        "status": "ok",
        "ms": ms,
        "floor_ms": floor_ms,
        "ratio": ms / floor_ms,
        "extra_bytes": extra,
        "warmup_s": warm,
    }


def parity_inputs(loss: str, pairs: int, dim: int) -> dict[str, Tensor]:
    """Deterministic fp32 CPU inputs: independent standard normal rows (the tests' convention).
    Strongly aligned positives would saturate the softmax, and the gradient would then be a
    difference of two nearly equal terms whose relative error grows as ``1 / (1 - p_pos)``."""
    import torch

    g = torch.Generator().manual_seed(1234)
    names = {"nt_xent": ("z1", "z2"), "cross_view": ("a", "b"), "multi_positive": ("z",)}
    names |= {"info_nce": ("q", "k"), "info_nce_queue": ("q", "k", "queue")}
    rows = {"z": 2 * pairs}
    return {name: torch.randn(rows.get(name, pairs), dim, generator=g) for name in names[loss]}


def parity_call(loss: str, x: dict[str, Tensor], backend: str) -> Tensor:
    import torch

    from sslcore import contrast

    tau = x.get("tau", PARITY_TAU[loss])
    if loss == "nt_xent":
        return contrast.nt_xent(x["z1"], x["z2"], tau, backend=backend)
    if loss in ("info_nce", "info_nce_queue"):
        return contrast.info_nce(x["q"], x["k"], x.get("queue"), temperature=tau, backend=backend)
    if loss == "cross_view":
        return contrast.cross_view(x["a"], x["b"], tau, backend=backend)
    z = x["z"]
    labels = (torch.arange(len(z), device=z.device) % (len(z) // 2)) // 4  # 8 rows per label
    return contrast.multi_positive(z, labels, tau, backend=backend)


def parity_run(
    loss: str, rounded: dict[str, Tensor], device: str, dtype: str, backend: str, prec: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """(loss, gradients by input name) of one run; NT-Xent's temperature is a learnable tensor."""
    import torch

    x = {k: v.to(device=device, dtype=torch_dtype(dtype)).requires_grad_() for k, v in rounded.items()}
    if loss == "nt_xent":
        tau_dtype = torch_dtype("fp64" if dtype == "fp64" else "fp32")
        x["tau"] = torch.tensor(PARITY_TAU[loss], device=device, dtype=tau_dtype, requires_grad=True)
    with precision(prec):
        out = parity_call(loss, x, backend)
        got = torch.autograd.grad(out, list(x.values()))
    sync(device)
    return out.detach(), dict(zip(x, got))


def rounded_inputs(item: Parity) -> dict[str, Tensor]:
    """The item's inputs rounded to its dtype (the float64 reference sees the same values)."""
    return {
        k: v.to(torch_dtype(item.dtype)) for k, v in parity_inputs(item.loss, item.pairs, item.dim).items()
    }


def rel_error(got: Tensor, ref: Tensor) -> float:
    """``||got - ref|| / ||ref||`` in float64 (absolute where ``ref`` is zero)."""
    import torch

    diff = torch.linalg.vector_norm(got.double() - ref.double())
    scale = torch.linalg.vector_norm(ref.double())
    return float(diff / scale) if scale > 0 else float(diff)


def same_bits(a: tuple[Tensor, dict[str, Tensor]], b: tuple[Tensor, dict[str, Tensor]]) -> bool:
    import torch

    return torch.equal(a[0], b[0]) and all(torch.equal(a[1][k], b[1][k]) for k in a[1])


def measure_parity(item: Parity, device: str, ref: tuple[Tensor, dict[str, Tensor]]) -> dict[str, Any]:
    rounded = rounded_inputs(item)
    runs = [parity_run(item.loss, rounded, device, item.dtype, item.backend, item.prec) for _ in range(2)]
    errors = {"loss": rel_error(runs[0][0], ref[0])}
    errors |= {f"grad {name}": rel_error(g, ref[1][name]) for name, g in runs[0][1].items()}
    worst = max(errors.values())
    bound = PARITY_BOUNDS[item.prec]
    return {
        "status": "ok",
        "errors": errors,
        "max_error": worst,
        "bound": bound,
        "within_bound": worst < bound,
        "bit_identical": same_bits(runs[0], runs[1]),
    }
