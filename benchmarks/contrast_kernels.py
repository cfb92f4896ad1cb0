"""Forward+backward wall time and extra peak memory of NT-Xent implementations.

Compares, in one run: sslcore's reference (materialised) path, sslcore's tiled path,
lightly's ``NTXentLoss`` and pytorch-metric-learning's ``NTXentLoss`` (both installed only
into ``benchmarks/.bench-libs`` with ``pip install --target``, never as project
dependencies), and the matmul floor: ``6 * M^2 * d`` FLOPs (M = 2N rows: one product
forward, two backward) at the rate of a large square fp32 GEMM measured in the same run.

Every measurement runs in its own subprocess (peak memory = that process's peak resident
set minus its size just before the first forward; address space capped so a request that
cannot fit fails with an error instead of swapping). Materialised implementations whose
extrapolated need exceeds ``--memory-limit-gb`` are reported as out of memory with the
estimate (quadratic extrapolation of the peak measured at the largest size that ran).

    .venv/bin/python benchmarks/contrast_kernels.py                     # the CPU table
    .venv/bin/python benchmarks/contrast_kernels.py --device cuda       # the same on a GPU
    .venv/bin/python benchmarks/contrast_kernels.py --pairs 1024 4096 --dims 128 --repeats 3

Writes ``benchmarks/results/contrast_kernels_<device>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from sslcore.io import atomic_write_text

HERE = Path(__file__).resolve().parent
LIBS = HERE / ".bench-libs"
IMPLS = ("reference", "tiled", "lightly", "pml")
MATERIALISED = ("reference", "lightly", "pml")


def ensure_bench_libs() -> None:
    """Install lightly and pytorch-metric-learning into the benchmark's own folder."""
    if (LIBS / "lightly").is_dir() and (LIBS / "pytorch_metric_learning").is_dir():
        return
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--target",
        str(LIBS),
        "lightly",
        "pytorch-metric-learning",
    ]
    subprocess.run(cmd, check=True)


def make_loss(impl: str, temperature: float):
    import torch

    if impl == "reference":
        from sslcore.contrast import nt_xent

        return lambda a, b: nt_xent(a, b, temperature, backend="reference")
    if impl == "tiled":
        from sslcore.contrast import nt_xent

        return lambda a, b: nt_xent(a, b, temperature, backend="tiled")
    if impl == "triton":
        from sslcore.contrast import nt_xent

        return lambda a, b: nt_xent(a, b, temperature, backend="triton")
    if impl == "lightly":
        from lightly.loss import NTXentLoss

        loss = NTXentLoss(temperature=temperature)
        return lambda a, b: loss(a, b)
    if impl == "pml":
        from pytorch_metric_learning.losses import NTXentLoss

        loss = NTXentLoss(temperature=temperature)

        def pml(a, b):
            n = a.shape[0]
            labels = torch.arange(n, device=a.device).repeat(2)
            return loss(torch.cat([a, b]), labels)

        return pml
    raise ValueError(impl)


class RSSSampler:
    """Highest resident set size seen by a thread reading /proc/self/statm every millisecond
    (torch releases the GIL inside its kernels, so the thread keeps sampling)."""

    def __init__(self) -> None:
        import threading

        self.page = os.sysconf("SC_PAGE_SIZE")
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(0.001)

    def __enter__(self) -> RSSSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def worker(impl: str, pairs: int, dim: int, device: str, repeats: int, limit_gb: float) -> dict:
    """One measurement, in this (fresh) process."""
    if device == "cpu":
        resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), resource.RLIM_INFINITY))
    import torch

    sys.path.insert(0, str(LIBS))
    loss_fn = make_loss(impl, 0.5)
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(pairs, dim, device=device, generator=g).requires_grad_()
    b = torch.randn(pairs, dim, device=device, generator=g).requires_grad_()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    small = [t[:8].detach().clone().requires_grad_() for t in (a, b)]
    loss_fn(*small).backward()  # warm-up: thread pools, lazy imports, kernel compilation
    sync()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    sampler = RSSSampler()
    base_rss = sampler.current()
    times = []
    try:
        with sampler:
            for _ in range(repeats):
                a.grad = b.grad = None
                sync()
                start = time.perf_counter()
                loss_fn(a, b).backward()
                sync()
                times.append(time.perf_counter() - start)
    except (RuntimeError, MemoryError) as exc:  # out of memory
        return {"status": "oom", "error": str(exc).splitlines()[0][:300]}
    peak = torch.cuda.max_memory_allocated() - base if device == "cuda" else sampler.peak - base_rss
    return {"status": "ok", "times": times, "seconds": statistics.median(times), "peak_bytes": peak}


def gemm_rate(device: str, size: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of a large square fp32 matrix product (median of ``repeats``)."""
    import torch

    x = torch.randn(size, size, device=device)
    y = torch.randn(size, size, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x @ y
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        x @ y
        sync()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def run_worker(impl: str, pairs: int, dim: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        impl,
        str(pairs),
        str(dim),
        "--device",
        args.device,
        "--repeats",
        str(args.repeats if pairs <= 16384 else 1),
        "--memory-limit-gb",
        str(args.memory_limit_gb),
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)}
    )
    if proc.returncode != 0:
        return {"status": "failed", "error": (proc.stderr.strip().splitlines() or ["?"])[-1][:300]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, nargs="+", default=[1024, 4096, 16384, 32768, 65536])
    parser.add_argument("--dims", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--impls", nargs="+", default=list(IMPLS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-limit-gb", type=float, default=20.0)
    parser.add_argument(
        "--output",
        default=None,
        help="results file stem in benchmarks/results (default contrast_kernels_<device>)",
    )
    parser.add_argument("--worker", nargs=3, metavar=("IMPL", "PAIRS", "DIM"))
    args = parser.parse_args()
    if args.worker:
        impl, pairs, dim = args.worker
        print(json.dumps(worker(impl, int(pairs), int(dim), args.device, args.repeats, args.memory_limit_gb)))
        return

    ensure_bench_libs()
    impls = [i for i in args.impls]
    if args.device == "cuda" and "triton" not in impls:
        impls.insert(2, "triton")
    load_before = os.getloadavg()
    rate = gemm_rate(args.device)
    rows = []
    for dim in args.dims:
        largest_ok: dict[str, tuple[int, int]] = {}
        for pairs in args.pairs:
            m = 2 * pairs
            floor = 6 * m * m * dim / rate
            for impl in impls:
                if impl in MATERIALISED and impl in largest_ok:
                    n0, peak0 = largest_ok[impl]
                    estimate = peak0 * (pairs / n0) ** 2
                    if estimate > args.memory_limit_gb * 2**30:
                        rows.append(
                            {
                                "impl": impl,
                                "pairs": pairs,
                                "dim": dim,
                                "status": "oom",
                                "estimate_bytes": estimate,
                                "floor_seconds": floor,
                            }
                        )
                        print(
                            f"{impl:9s} N={pairs:6d} d={dim}: skipped, needs ~{estimate / 2**30:.0f} GB",
                            flush=True,
                        )
                        continue
                if impl in MATERIALISED and any(
                    r["impl"] == impl and r["dim"] == dim and r["status"] != "ok" for r in rows
                ):
                    rows.append(
                        {
                            "impl": impl,
                            "pairs": pairs,
                            "dim": dim,
                            "status": "oom",
                            "floor_seconds": floor,
                            "error": "failed at a smaller size",
                        }
                    )
                    continue
                result = run_worker(impl, pairs, dim, args)
                result.update(impl=impl, pairs=pairs, dim=dim, floor_seconds=floor)
                rows.append(result)
                if result["status"] == "ok":
                    largest_ok[impl] = (pairs, result["peak_bytes"])
                    print(
                        f"{impl:9s} N={pairs:6d} d={dim}: {result['seconds']:.3f} s, "
                        f"peak +{result['peak_bytes'] / 2**20:.0f} MB (floor {floor:.3f} s)",
                        flush=True,
                    )
                else:
                    print(
                        f"{impl:9s} N={pairs:6d} d={dim}: {result['status']}: {result.get('error', '')}",
                        flush=True,
                    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    meta = {
        "device": args.device,
        "gemm_flops": rate,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    stem = args.output or f"contrast_kernels_{args.device}"
    atomic_write_text(out / f"{stem}.json", json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = to_markdown(rows, meta)
    atomic_write_text(out / f"{stem}.md", table)
    print(table)


def to_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"GEMM rate measured in this run: {meta['gemm_flops'] / 1e9:.0f} GFLOP/s ({meta['device']}, {meta['cpus']} CPUs)",
        "",
        "| pairs N | d | implementation | fwd+bwd s | extra peak memory | x floor |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        if r["status"] == "ok":
            t, mem = f"{r['seconds']:.3f}", f"{r['peak_bytes'] / 2**20:.0f} MB"
            ratio = f"{r['seconds'] / r['floor_seconds']:.2f}"
        else:
            need = f" (needs ~{r['estimate_bytes'] / 2**30:.0f} GB)" if "estimate_bytes" in r else ""
            t, mem, ratio = "out of memory", f"{r.get('error', '')[:80]}{need}", "-"
        lines.append(f"| {r['pairs']} | {r['dim']} | {r['impl']} | {t} | {mem} | {ratio} |")
    floors = sorted({(r["pairs"], r["dim"], r["floor_seconds"]) for r in rows})
    lines += ["", "Matmul floor (6·M²·d FLOPs at the measured GEMM rate):", ""]
    lines += [f"- N={p}, d={d}: {f:.3f} s" for p, d, f in floors]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
