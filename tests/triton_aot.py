"""Ahead-of-time compile of every Triton contrast-kernel configuration for a GPU target,
without a GPU: ``triton.compile(ASTSource(...), target=GPUTarget("cuda", 90, 32))`` with the
ptxas that ships in the Triton wheel. For each job it records which tensor-core
instructions the PTX uses and what ``ptxas -v`` reports (registers, spill stores / loads).

    .venv/bin/python tests/triton_aot.py --out aot.json [--arch 90] [--workers 2]

Runs in its own process (the test suite's Triton may be in interpreter mode); used by
``tests/test_contrast_triton_aot.py``. One job per (kernel, dtype, fp32 precision, padded
row width class, tile candidate of :mod:`sslcore.contrast.triton_configs`), each compiled
with every mask flag on (the heaviest loop body a launch can have).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from sslcore.contrast.triton_configs import configs, fused_block_ds

#: fp16 shares bf16's tiles and code (only the MMA's input type differs): bf16 stands for both
DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp64": torch.float64}
TL_NAMES = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "fp64": "fp64"}


def _job(kernel: str, dtype: str, prec: str, block_d: int, tile: int, variant: str) -> dict:
    return {
        "kernel": kernel,
        "dtype": dtype,
        "prec": prec,
        "block_d": block_d,
        "tile": tile,
        "variant": variant,
    }


def jobs() -> list[dict]:
    """Every (kernel, dtype, precision, block_d, tile) the kernels can be launched with, in
    the two heaviest flag variants (the fused kernels at the widest row of each tile list:
    most registers), then every other flag combination once."""
    out = []
    for dname, dtype in DTYPES.items():
        for prec in ["tf32", "ieee"] if dname == "fp32" else ["ieee"]:
            for kernel in ("fwd", "bwd"):
                widest = {repr(configs(kernel, dtype, bd, prec)): bd for bd in fused_block_ds(dtype, prec)}
                for bd in widest.values():
                    for i, _ in enumerate(configs(kernel, dtype, bd, prec)):
                        out += [_job(kernel, dname, prec, bd, i, v) for v in VARIANTS]
            for kernel in ("fwd_wide", "w", "wb"):
                for i, _ in enumerate(configs(kernel, dtype, 0, prec)):
                    out += [
                        _job(kernel, dname, prec, 0, i, v) for v in (VARIANTS if kernel != "wb" else ["-"])
                    ]
    for kernel, variants in COVERAGE.items():
        out += [_job(kernel, "bf16", "ieee", 128 if kernel in ("fwd", "bwd") else 0, 0, v) for v in variants]
    return out


#: mask / gradient flags of the two heaviest launches, compiled for every tile candidate:
#: self-similarity (NT-Xent; diagonal mask, both gradient terms, learnable temperature) and
#: the column pass of a cross log-sum-exp with ``exclude`` (every tile masked, the
#: exclusion read per column)
VARIANTS = {
    "self": {"DIAG": True, "HAS_EXA": False, "HAS_EXB": False, "MASK_ALL": False},
    "cross": {"DIAG": False, "HAS_EXA": False, "HAS_EXB": True, "MASK_ALL": True},
}
_PLAIN = {"DIAG": False, "HAS_EXA": False, "HAS_EXB": False, "MASK_ALL": False}
_ROWS_EX = {**_PLAIN, "HAS_EXA": True, "MASK_ALL": True}
_COLS_EX = {**_PLAIN, "HAS_EXB": True, "MASK_ALL": True}
#: every other flag combination a launch uses, compiled once (first tile, bf16) so that a
#: path the interpreter accepts but the compiler rejects is caught here
COVERAGE = {
    "fwd": {"plain": _PLAIN, "rows_ex": _ROWS_EX},
    "fwd_wide": {"plain": _PLAIN, "rows_ex": _ROWS_EX},
    "bwd": {
        "rows": {**_PLAIN, "HAS_GB": False, "NEED_TAU": False},
        "rows_ex": {**_ROWS_EX, "HAS_GB": False},
        "cols": {**_PLAIN, "HAS_GA": False, "NEED_TAU": False},
        "cols_ex": {**_COLS_EX, "HAS_GA": False},
        "both_ex": _ROWS_EX,
        "self_notau": {**VARIANTS["self"], "NEED_TAU": False},
    },
}
COVERAGE["w"] = COVERAGE["bwd"]


def job_id(job: dict) -> str:
    return f"{job['kernel']}-{job['dtype']}-{job['prec']}-d{job['block_d']}-t{job['tile']}-{job['variant']}"


def _signature(kernel: str, arg_names: list[str], dname: str) -> dict[str, str]:
    acc = "fp64" if dname == "fp64" else "fp32"
    types = {"A": f"*{TL_NAMES[dname]}", "B": f"*{TL_NAMES[dname]}", "W": f"*{TL_NAMES[dname]}"}
    types |= {"EXA": "*i32", "EXB": "*i32", "FLAG": "*i32"}
    for name in ("TAU", "OUT", "LA", "GA", "EA", "LB", "GB", "HB", "DA", "DT"):
        types[name] = f"*{acc}"
    return {n: types.get(n, "i32") for n in arg_names}


def compile_job(job: dict, arch: int = 90) -> dict:
    """Compile one job; return what the PTX and ptxas say."""
    import triton
    import triton.language as tl
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from sslcore.contrast.triton_lse import _tile_kwargs, jit

    dname, kernel, bd = job["dtype"], job["kernel"], job["block_d"]
    dtype = DTYPES[dname]
    tile = configs(kernel, dtype, bd, job["prec"])[job["tile"]]
    fn = jit(kernel.removesuffix("_wide"))
    arg_names = list(fn.arg_names)
    constexpr_names = [n for n, p in zip(arg_names, fn.params) if p.is_constexpr]
    sig = _signature(kernel, [n for n in arg_names if n not in constexpr_names], dname)
    consts = {"ACC": tl.float64 if dname == "fp64" else tl.float32, "PREC": job["prec"], "UPCAST": False}
    consts |= _tile_kwargs(kernel, tile)
    variant = VARIANTS.get(job["variant"]) or COVERAGE.get(kernel, {}).get(job["variant"], {})
    flags = {"HAS_GA": True, "HAS_GB": True, "NEED_TAU": True, **variant}
    if kernel in ("fwd", "bwd"):
        consts["BLOCK_D"] = bd
    if kernel in ("fwd", "fwd_wide"):
        consts["ONE_D"] = kernel == "fwd"
    consts |= {k: v for k, v in flags.items() if k in constexpr_names}
    missing = set(constexpr_names) - set(consts)
    if missing:
        raise RuntimeError(f"{job_id(job)}: no value for constexpr {sorted(missing)}")
    for n in constexpr_names:
        sig[n] = "constexpr"
    sig = {n: sig[n] for n in arg_names}
    # as a launch specialises them: pointers from torch are 16-byte aligned, the row width D
    # is padded to a multiple of 16 and the weights' row stride CW to a multiple of 128
    aligned = [(arg_names.index(n),) for n, t in sig.items() if t.startswith("*") or n in ("D", "CW")]
    attrs = {k: [["tt.divisibility", 16]] for k in aligned}
    src = ASTSource(fn, sig, constexprs={n: consts[n] for n in constexpr_names}, attrs=attrs)
    log = io.StringIO()
    with knobs.nvidia.scope(), contextlib.redirect_stdout(log):
        knobs.nvidia.dump_ptxas_log = True  # Triton's own ptxas run (its flags) prints its -v report
        compiled = triton.compile(
            src,
            target=GPUTarget("cuda", arch, 32),
            options={"num_warps": tile.num_warps, "num_stages": tile.num_stages},
        )
    ptx = compiled.asm["ptx"]
    report = _ptxas_report(log.getvalue())
    return {
        **job,
        "id": job_id(job),
        "wgmma": "wgmma.mma_async" in ptx,
        "mma": bool(re.search(r"\bmma\.sync\.aligned", ptx)),
        "mma_kinds": sorted(set(re.findall(r"(?:wgmma\.mma_async\.sync|mma\.sync)\.aligned\.[\w.]+", ptx))),
        "shared_bytes": compiled.metadata.shared,
        **report,
    }


def _ptxas_report(text: str) -> dict:
    """Registers and spills from ptxas's ``-v`` report."""
    stores = re.search(r"(\d+) bytes spill stores", text)
    loads = re.search(r"(\d+) bytes spill loads", text)
    regs = re.search(r"Used (\d+) registers", text)
    if not (stores and loads and regs):
        raise RuntimeError(
            f"no ptxas -v report (was the kernel compiled, not taken from Triton's cache?):\n{text}"
        )
    return {"spill_stores": int(stores[1]), "spill_loads": int(loads[1]), "registers": int(regs[1])}


def _safe(job: dict, arch: int) -> dict:
    start = time.perf_counter()
    try:
        out = compile_job(job, arch)
    except Exception as exc:  # reported per job, so one failure does not hide the rest
        out = {**job, "id": job_id(job), "error": f"{type(exc).__name__}: {str(exc)[-2000:]}"}
    return {**out, "seconds": round(time.perf_counter() - start, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True)
    parser.add_argument("--arch", type=int, default=90)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--only", default="", help="regular expression on job ids (default: all)")
    args = parser.parse_args()
    if os.environ.get("TRITON_INTERPRET") == "1":
        sys.exit("unset TRITON_INTERPRET: the ahead-of-time compile needs Triton's compiler")
    # a fresh cache: a cached kernel skips ptxas, and so its report
    os.environ["TRITON_CACHE_DIR"] = tempfile.mkdtemp(prefix="sslcore-aot-")
    todo = [j for j in jobs() if re.search(args.only, job_id(j))]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(_safe, todo, [args.arch] * len(todo)))
    Path(args.out).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
