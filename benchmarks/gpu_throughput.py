"""Throughput of the engine on a GPU (issue 22), through sslcore's public API.

    python benchmarks/gpu_throughput.py --device cuda [--families F ...] [--seconds-per-family 20]
        [--budget-s 300] [--num-workers 8] [--repeats 3] [--cpu-too] [--probe-sklearn]
        [--pytest-junit JUNIT.xml] [--out-dir DIR] [--name NAME]
    python benchmarks/gpu_throughput.py --smoke    # every family on the CPU, tiny sizes; checks the outputs

Families, in the order of issue 22's acceptance (each one's docstring in
``benchmarks/gpu_throughput_bench`` says exactly what runs):

- ``simclr_small_cnn``: ``vision:simclr`` + ``small_cnn`` on Fashion-MNIST, batch 512;
- ``simclr_resnet18``: SimCLR + ``resnet18`` (32x32 stem) on synthetic uint8 RGB 32x32 images, bf16;
- ``mlm``: ``nlp:mlm`` + tiny BERT on WikiText-2 (128-token blocks), batch 128;
- ``dgi``: ``graph:dgi`` on Cora beside PyG's ``examples/infomax_transductive.py`` (300 epochs,
  medians of ``--repeats`` interleaved runs); ``--cpu-too`` repeats it on the CPU of a GPU run;
- ``probe``: embedding + linear-probe time of a standard-suite Fashion-MNIST run on the device
  against the suite's training budget (``--probe-sklearn``: scikit-learn on the CPU too);
- ``masked``: ``masked_denoising`` + ``small_cnn`` on Fashion-MNIST, batch 512;
- ``grace``: ``graph:grace`` on Cora.

Each trainer-based family trains for ``--seconds-per-family`` through ``sslcore.engine.Trainer``
(``TrainConfig`` defaults otherwise: ``precision="auto"``, i.e. bf16 autocast on CUDA) and
reports samples/s, median step time over the trainer's log windows, peak memory
(``torch.cuda.max_memory_allocated``; the process's peak RSS on the CPU), FLOPs of one step
(``sslcore.compare.flops.flops_per_step``) and achieved TFLOP/s against the matrix-product
rate measured first in the same run (bf16 8192^3 on CUDA, with TF32 and fp32 beside it; fp32
on the CPU). A family that would not fit in what is left of ``--budget-s`` is skipped and
said so. Results are written atomically after every family to ``<out-dir>/<name>.json`` and
``.md`` (default ``benchmarks/results``, name ``gpu_throughput`` on CUDA,
``gpu_throughput_cpu`` on the CPU), with the acceptance table (PASS / FAIL / NOT MEASURED).
Data: ``--data-root`` (default ``$SSLCORE_TEST_DATA`` or the shared data folder beside the
repository). ``benchmarks/gpu_engine_check.sh`` runs this on the device machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from _common import provenance
from gpu_throughput_bench import families as fam
from gpu_throughput_bench.graphs import dgi
from gpu_throughput_bench.markdown import SECTIONS, TRAINER_FAMILIES, render
from gpu_throughput_bench.probe import probe
from gpu_throughput_bench.report import CRITERIA, acceptance, read_junit
from gpu_throughput_bench.timing import free_device_memory, matmul_ceilings
from gpu_throughput_bench.training import Context

from sslcore.engine.device import resolve_device
from sslcore.io import atomic_write_text
from sslcore.testing import shared_data_dir

RESULTS = Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class Family:
    run: Callable[[Context], dict[str, Any]]
    overhead_s: dict[str, float]  # set-up, FLOP count, comparison runs: on "cuda" / "cpu"
    trains_for_seconds: bool = True  # takes ctx.seconds of training (shortened to fit the budget)


FAMILIES: dict[str, Family] = {
    "simclr_small_cnn": Family(fam.simclr_small_cnn, {"cuda": 20, "cpu": 30}),
    "simclr_resnet18": Family(fam.simclr_resnet18, {"cuda": 30, "cpu": 60}),
    "mlm": Family(fam.mlm, {"cuda": 25, "cpu": 30}),
    "dgi": Family(dgi, {"cuda": 40, "cpu": 420}, trains_for_seconds=False),
    "probe": Family(probe, {"cuda": 60, "cpu": 900}, trains_for_seconds=False),
    "masked": Family(fam.masked, {"cuda": 20, "cpu": 30}),
    "grace": Family(fam.grace, {"cuda": 15, "cpu": 20}),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="cuda | cpu (default: cuda if visible; cpu with --smoke)")
    p.add_argument("--families", nargs="+", choices=list(FAMILIES), default=list(FAMILIES))
    p.add_argument("--seconds-per-family", type=float, default=None, help="training seconds (20 GPU, 30 CPU)")
    p.add_argument("--budget-s", type=float, default=None, help="whole run (default 420 GPU, 7200 CPU)")
    p.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (8 on CUDA, 1 on CPU)")
    p.add_argument("--repeats", type=int, default=3, help="timing repeats of dgi and probe (medians)")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    p.add_argument("--cpu-too", action="store_true", help="also DGI vs PyG on the CPU in a GPU run")
    p.add_argument("--probe-sklearn", action="store_true", help="also the scikit-learn probe in a GPU run")
    p.add_argument("--pytest-junit", type=Path, default=None, help="JUnit XML of the CUDA test run")
    p.add_argument("--pytest-exit-code", type=int, default=None, help="that run's exit status")
    p.add_argument("--pytest-selection", default="", help="that run's test selection, if not the whole suite")
    p.add_argument("--data-root", type=Path, default=None)
    p.add_argument(
        "--out-dir", type=Path, default=None, help="default benchmarks/results (smoke: a temp dir)"
    )
    p.add_argument("--name", default=None, help="file name stem (default gpu_throughput[_cpu|_smoke])")
    p.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU; check every output section")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="measure nothing: add --pytest-junit to <out-dir>/<name>.json and rewrite it and the .md",
    )
    args = p.parse_args(argv)
    cuda = (args.device or ("cpu" if args.smoke or not torch.cuda.is_available() else "cuda")) == "cuda"
    args.device = "cuda" if cuda else (args.device or "cpu")
    args.seconds_per_family = args.seconds_per_family or (3 if args.smoke else 20 if cuda else 30)
    args.budget_s = args.budget_s or (900 if args.smoke else 420 if cuda else 7200)
    args.num_workers = args.num_workers if args.num_workers is not None else (8 if cuda else 1)
    args.repeats = 1 if args.smoke else args.repeats
    default_name = "gpu_throughput" + ("_smoke" if args.smoke else "" if cuda else "_cpu")
    args.name = args.name or default_name
    if args.out_dir is None:
        args.out_dir = Path(tempfile.mkdtemp(prefix="gpu-throughput-smoke-")) if args.smoke else RESULTS
    return args


def make_context(args: argparse.Namespace, start: float) -> Context:
    device = resolve_device(args.device)
    root = args.data_root or Path(os.environ.get("SSLCORE_TEST_DATA") or shared_data_dir())
    return Context(
        device=device,
        data_root=root,
        seconds=args.seconds_per_family,
        smoke=args.smoke,
        num_workers=args.num_workers,
        repeats=args.repeats,
        deadline=start + args.budget_s,
        cpu_too=args.cpu_too,
        probe_sklearn=args.probe_sklearn,
    )


def ceilings(ctx: Context) -> dict[str, Any]:
    n, repeats = (256, 2) if ctx.smoke else (8192, 10) if ctx.cuda else (2048, 3)
    return matmul_ceilings(ctx.device, n, repeats)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def new_record(args: argparse.Namespace, ctx: Context, command: str) -> dict[str, Any]:
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    record: dict[str, Any] = {
        "benchmark": "gpu_throughput",
        "command": command,
        "device_type": ctx.device.type,
        "device_name": device_name(ctx.device),
        "smoke": args.smoke,
        "settings": settings,
        "data_root": str(ctx.data_root),
        "torch_threads": torch.get_num_threads(),
        "families": {},
        **provenance(load_before=os.getloadavg()),
    }
    add_test_suite(record, args)
    return record


def add_test_suite(record: dict[str, Any], args: argparse.Namespace) -> None:
    """The CUDA test run's totals (from its JUnit file), exit status and selection."""
    if args.pytest_junit is not None and args.pytest_junit.is_file():
        tests = read_junit(args.pytest_junit)
        record["test_suite"] = tests | {
            "exit_code": args.pytest_exit_code,
            "selection": args.pytest_selection,
        }


def write(record: dict[str, Any], args: argparse.Namespace) -> None:
    """Both files, atomically: the JSON record and its Markdown report."""
    record["acceptance"] = acceptance(record, record["command"])
    record["machine"]["load_at_last_write"] = os.getloadavg()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / f"{args.name}.json", json.dumps(record, indent=2, default=str) + "\n")
    atomic_write_text(args.out_dir / f"{args.name}.md", render(record) + "\n")


def run_family(name: str, ctx: Context) -> dict[str, Any]:
    """One family within what is left of the budget: its figures with ``status`` ``ok``,
    or ``skipped`` / ``error`` with the reason (a failure never stops the others)."""
    spec = FAMILIES[name]
    overhead = 5.0 if ctx.smoke else spec.overhead_s[ctx.device.type]
    left = ctx.left()
    seconds = min(ctx.seconds, left - overhead) if spec.trains_for_seconds else ctx.seconds
    if left < overhead or seconds < min(5.0, ctx.seconds):
        return {
            "status": "skipped",
            "reason": f"{left:.0f} s of the budget left, needs about {overhead:.0f} s",
        }
    start = time.perf_counter()
    try:
        out = spec.run(dataclasses.replace(ctx, seconds=seconds))
    except Exception as exc:  # noqa: BLE001 - report it and go on with the next family
        traceback.print_exc()
        out = {
            "status": "error",
            "reason": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }
    else:
        out = {"status": "ok", **out}
    free_device_memory(ctx.device)
    return out | {"family_wall_s": time.perf_counter() - start}


def smoke_problems(record: dict[str, Any], markdown: str, names: list[str]) -> list[str]:
    """What a smoke run's outputs lack: a family not ok, a figure missing, a section absent."""
    found = []
    for name in names:
        out = record["families"].get(name, {})
        if out.get("status") != "ok":
            found.append(f"{name}: {out.get('status')} {out.get('reason', '')}")
            continue
        keys = ["samples_per_s", "step_ms_median", "flops_per_step", "achieved_tflops"]
        needed = keys if name in TRAINER_FAMILIES else ["per_run_probe_s"] if name == "probe" else ["cpu"]
        found += [f"{name}: no {k}" for k in needed if out.get(k) is None]
    found += [f"markdown lacks {s!r}" for s in SECTIONS if s not in markdown]
    if len(record["acceptance"]) != len(CRITERIA):
        found.append("acceptance table incomplete")
    return found


def report_only(args: argparse.Namespace) -> int:
    """Add the test-suite results to an existing record and rewrite its two files."""
    path = args.out_dir / f"{args.name}.json"
    record = json.loads(path.read_text())
    add_test_suite(record, args)
    write(record, args)
    print("\n".join(f"{r['verdict']:>12}  {r['text']}: {r['measured']}" for r in record["acceptance"]))
    return 0


def main(argv: list[str] | None = None) -> int:
    start = time.perf_counter()
    args = parse_args(argv)
    if args.report_only:
        return report_only(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = " ".join(["python", "benchmarks/gpu_throughput.py", *map(shlex.quote, argv or sys.argv[1:])])
    ctx = make_context(args, start)
    record = new_record(args, ctx, command)
    ctx.ceilings = record["ceilings"] = ceilings(ctx)
    print(f"GEMM ceilings (TFLOP/s): {ctx.ceilings}", flush=True)
    write(record, args)
    for name in args.families:
        print(f"== {name} ({ctx.left():.0f} s of the budget left)", flush=True)
        record["families"][name] = run_family(name, ctx)
        write(record, args)
        print(json.dumps(record["families"][name], default=str)[:2000], flush=True)
    markdown = (args.out_dir / f"{args.name}.md").read_text()
    print(markdown)
    print(f"written to {args.out_dir / args.name}.json and .md")
    if args.smoke:
        found = smoke_problems(record, markdown, args.families)
        print("smoke check: " + ("; ".join(found) if found else "every family and section present"))
        return 1 if found else 0
    return 1 if any(o.get("status") == "error" for o in record["families"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
