"""The CPU mode: one subprocess per measurement (the entry point run with ``--worker``), peak
resident memory, the matmul floor at a measured GEMM rate, the Markdown table."""

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

from . import HERE, SCRIPT
from .libs import ensure_bench_libs
from .losses import TAU, make_loss, median_seconds

IMPLS = ("reference", "tiled", "lightly", "pml")
MATERIALISED = ("reference", "lightly", "pml")


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


def worker(impl: str, pairs: int, dim: int, repeats: int, limit_gb: float) -> dict:
    """One CPU measurement, in this (fresh) process."""
    resource.setrlimit(resource.RLIMIT_AS, (int(limit_gb * 2**30), resource.RLIM_INFINITY))
    import torch

    loss_fn = make_loss(impl, TAU)
    g = torch.Generator().manual_seed(0)
    a = torch.randn(pairs, dim, generator=g).requires_grad_()
    b = torch.randn(pairs, dim, generator=g).requires_grad_()
    small = [t[:8].detach().clone().requires_grad_() for t in (a, b)]
    loss_fn(*small).backward()  # warm-up: thread pools, lazy imports
    sampler = RSSSampler()
    base_rss = sampler.current()
    times = []
    try:
        with sampler:
            for _ in range(repeats):
                a.grad = b.grad = None
                start = time.perf_counter()
                loss_fn(a, b).backward()
                times.append(time.perf_counter() - start)
    except (RuntimeError, MemoryError) as exc:  # out of memory
        return {"status": "oom", "error": str(exc).splitlines()[0][:300]}
    peak = sampler.peak - base_rss
    return {"status": "ok", "times": times, "seconds": statistics.median(times), "peak_bytes": peak}


def gemm_rate(size: int = 4096, repeats: int = 5) -> float:
    """FLOP/s of a large square fp32 matrix product on the CPU (median of ``repeats``)."""
    import torch

    x = torch.randn(size, size)
    y = torch.randn(size, size)
    return 2 * size**3 / median_seconds(lambda: x @ y, repeats, lambda: None)


def run_worker(impl: str, pairs: int, dim: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--worker",
        impl,
        str(pairs),
        str(dim),
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


def cpu_main(args: argparse.Namespace) -> None:
    from sslcore.io import atomic_write_text

    ensure_bench_libs(install=True)
    load_before = os.getloadavg()
    rate = gemm_rate()
    rows = []
    for dim in args.dims:
        largest_ok: dict[str, tuple[int, int]] = {}
        for pairs in args.pairs:
            m = 2 * pairs
            floor = 6 * m * m * dim / rate
            for impl in args.impls:
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
    meta = {
        "device": "cpu",
        "gemm_flops": rate,
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "command": " ".join(sys.argv),
    }
    stem = args.output or "contrast_kernels_cpu"
    atomic_write_text(args.out_dir / f"{stem}.json", json.dumps({"meta": meta, "rows": rows}, indent=2))
    table = to_markdown(rows, meta)
    atomic_write_text(args.out_dir / f"{stem}.md", table)
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
