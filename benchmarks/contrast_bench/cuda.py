"""The CUDA mode's main (``--device cuda``, or its code path on the CPU with ``--smoke``): the run's
meta, a fresh run or a resumed one."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import HERE, STARTED
from .bench import Bench
from .libs import ensure_bench_libs, use_bench_libs
from .plan import Grid, plan
from .prewarm import configure_torch
from .smoke import smoke_check


def collect_meta(args: argparse.Namespace, device: str) -> dict[str, Any]:
    import torch
    import triton

    from sslcore.contrast.backends import resolve_backend

    meta: dict[str, Any] = {
        "device": device,
        "smoke": args.smoke,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "triton": triton.__version__,
        "lightly": _version("lightly"),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "budget_s": args.budget_s,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": _git_revision(),
        "torch_fp32_matmul_precision": torch.get_float32_matmul_precision(),
        "auto_backend": resolve_backend("nt_xent", "auto", torch.empty(1, device=device)),
        "complete": False,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        meta |= {"gpu": props.name, "capability": f"{props.major}.{props.minor}"}
        meta |= {"gpu_memory_bytes": props.total_memory, "sms": props.multi_processor_count}
    return meta


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:
        return None


def _git_revision() -> str | None:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=HERE
        )
        return out.stdout.strip() or None
    except OSError:
        return None


def make_bench(args: argparse.Namespace) -> Bench:
    device = "cpu" if args.smoke else "cuda"
    grid = Grid(
        pairs=tuple(args.pairs),
        streamed_pairs=tuple(args.streamed_pairs),
        dims=tuple(args.dims),
        dtypes=tuple(args.dtypes),
        impls=tuple(args.impls),
        parity_sizes=tuple(args.parity_sizes),
        parity_backends=tuple(args.parity_backends),
    )
    start = args.started_at or STARTED
    bench = Bench(args, grid, device, start, plan(grid), {})
    if args.resume:
        old = json.loads(args.resume.read_text())
        bench.meta = old["meta"]
        bench.results = {k: r for k, r in old["results"].items() if r["status"] != "skipped"}
        bench.meta["restarts"] = bench.meta.get("restarts", 0) + 1
    else:
        bench.meta = collect_meta(args, device)
    return bench


def gpu_main(args: argparse.Namespace) -> None:
    """The CUDA mode, or (``--smoke``) its code path on the CPU."""
    if args.smoke:
        os.environ["TRITON_INTERPRET"] = "1"  # before the first import of triton (sslcore imports it)
        if "triton.language" in sys.modules:
            raise SystemExit("--smoke: triton was imported before TRITON_INTERPRET=1 could be set")
        ensure_bench_libs(install=True)
    else:
        if os.environ.get("TRITON_INTERPRET") == "1":
            raise SystemExit("--device cuda: unset TRITON_INTERPRET (it runs the kernels on the CPU)")
        ensure_bench_libs(install=False, needed=("lightly", "pluggy", "tqdm"))
    use_bench_libs()
    import torch

    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here; `--smoke` runs this code path on the CPU")
    configure_torch()
    bench = make_bench(args)
    bench.execute()
    if args.smoke:
        smoke_check(bench)
