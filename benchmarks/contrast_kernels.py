"""Forward + backward time and extra peak memory of NT-Xent implementations, on CPU or one GPU.

How to run on a GPU (a device session: one NVIDIA H200, no network, 15 minutes of device time):

1. Here, where a package index is reachable: ``.venv/bin/python benchmarks/contrast_kernels.py
   --smoke``. It installs what the GPU image lacks into ``benchmarks/.bench-libs`` (lightly, and
   pluggy and tqdm, which ``import sslcore`` needs), runs the CUDA mode's code on the CPU with
   tiny sizes and checks its outputs; it ends with "smoke check passed".
2. In the device session, once, as its only command: ``run(command="bash
   benchmarks/contrast_kernels_gpu.sh", carry=["benchmarks/.bench-libs"], timeout_s=560)``.
   About 7.5 minutes (``--budget-s 420`` plus start-up). ``$OUT`` gets
   ``contrast_kernels_cuda.json``, ``.md`` and ``.log``; copy them to ``benchmarks/results``.
   Both result files are rewritten after every measurement, so a killed run keeps what it
   measured; to continue it in a later session, put its JSON in the checkout and run
   ``BENCH_ARGS="--resume benchmarks/results/contrast_kernels_cuda.json" bash
   benchmarks/contrast_kernels_gpu.sh`` (skipped rows are measured, the others kept).

CPU mode (the default) compares, in one run: sslcore's reference (materialised) path, sslcore's
tiled path, lightly's ``NTXentLoss`` and pytorch-metric-learning's ``NTXentLoss`` (both installed
only into ``benchmarks/.bench-libs`` with ``pip install --target``, never as project
dependencies), and the matmul floor: ``6 * M^2 * d`` FLOPs (M = 2N rows: one product forward,
two backward) at the rate of a large square fp32 GEMM measured in the same run. Every
measurement runs in its own subprocess (peak memory = that process's peak resident set minus
its size just before the first forward; address space capped so a request that cannot fit fails
with an error instead of swapping). Materialised implementations whose extrapolated need exceeds
``--memory-limit-gb`` are reported as out of memory with the estimate (quadratic extrapolation
of the peak measured at the largest size that ran).

CUDA mode (``--device cuda``), in one process: NT-Xent forward + backward, timed as the median of
``triton.testing.do_bench`` (inputs require grad, the closure clears their gradients), for
``plain`` (normalise, ``z @ z.T / tau``, diagonal to -inf, ``F.cross_entropy``, all in the inputs'
dtype), sslcore's ``reference`` / ``tiled`` / ``triton`` / ``flex`` / ``auto`` backends and
lightly's ``NTXentLoss``, in fp32 and bf16; the extra peak memory of each (CUDA allocator peak
after a reset minus what was allocated before the forward, inputs excluded); the floor
``4 M^2 d`` FLOPs at the rate of an 8192^3 GEMM measured in the same run (tf32 for fp32 inputs,
bf16 for bf16 inputs); a parity section (every softmax-contrast loss on ``triton`` and ``flex``
against float64, run twice for bit-identity); and the issue's acceptance criteria, each PASS /
FAIL. Materialised implementations whose estimated need (4 [M, M] arrays) exceeds the free
memory are reported as not fitting; an out-of-memory error is that row's result.

Order and time: ``--budget-s`` counts from the start of the process. Compiling is the long pole
(seconds per Triton tile candidate, more per FlexAttention graph), so a pool of processes
(``--prewarm-workers``) first compiles what the plan needs into the on-disk caches, each
autotuning candidate run once and not timed, for at most ``--prewarm-s`` (and 40 % of the
budget). Meanwhile the measuring process runs the parity rows, which judge accuracy only, each
once its kernels are cached; the timings follow on a quiet GPU, acceptance sizes first, then the
rest of the grid cheapest first. A row whose estimated cost exceeds the time left is recorded as
skipped. After a sticky CUDA error the run continues in a fresh process (``--resume``).
``--smoke`` runs this code path on the CPU (``TRITON_INTERPRET=1``, tiny sizes, flex rows
reported as unsupported: sslcore refuses FlexAttention for CPU tensors).

    .venv/bin/python benchmarks/contrast_kernels.py                     # the CPU table
    .venv/bin/python benchmarks/contrast_kernels.py --pairs 1024 4096 --dims 128 --repeats 3
    .venv/bin/python benchmarks/contrast_kernels.py --smoke              # CUDA code path, CPU
    python3 benchmarks/contrast_kernels.py --device cuda --out-dir "$OUT"  # what the .sh runs

Writes ``<out-dir>/contrast_kernels_{cpu,cuda,smoke}.json`` and ``.md`` (out-dir: benchmarks/results;
for ``--smoke`` a temporary folder).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

# the parts: benchmarks/contrast_bench/ (importable as this script's folder is sys.path[0])
from contrast_bench import HERE
from contrast_bench.cpu import IMPLS, cpu_main, worker
from contrast_bench.cuda import gpu_main
from contrast_bench.libs import ensure_bench_libs, use_bench_libs
from contrast_bench.plan import DTYPE_NAMES, GPU_IMPLS

CUDA_DEFAULTS = {
    "pairs": [4096, 16384, 65536],
    "streamed_pairs": [131072],
    "dims": [128, 256, 512, 1024],
    "impls": list(GPU_IMPLS),
    # parity runs while the prewarm workers compile: at a size no timing uses, its autotuning
    # (noisy there) leaves no tile choice behind for a timed shape
    "parity_sizes": [(2048, 128), (2048, 1024)],
    "prewarm_workers": max(1, min(14, (os.cpu_count() or 2) - 3)),
    "gemm_size": 8192,
    "out_dir": HERE / "results",
}
#: the same code path at sizes the CPU and Triton's interpreter finish in a few minutes; the
#: memory limit makes the materialised rows at 64 pairs "not fit"; d=320 takes the wide kernels
SMOKE_DEFAULTS = CUDA_DEFAULTS | {
    "pairs": [32, 64],
    "streamed_pairs": [128],
    "dims": [16, 32],
    "parity_sizes": [(16, 16), (16, 320)],
    "prewarm_workers": 2,
    "gemm_size": 256,
    "memory_limit_gb": 0.0002,
    "out_dir": Path(tempfile.gettempdir()) / "sslcore-contrast-smoke",
}
CPU_DEFAULTS = {"pairs": [1024, 4096, 16384, 32768, 65536], "dims": [128, 256], "impls": list(IMPLS)}
CPU_DEFAULTS |= {"memory_limit_gb": 20.0, "out_dir": HERE / "results"}


def parse_size(text: str) -> tuple[int, int]:
    pairs, _, dim = text.partition("x")
    try:
        return int(pairs), int(dim)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected PAIRSxD such as 4096x128, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--smoke", action="store_true", help="the CUDA mode's code path on the CPU, tiny sizes")
    p.add_argument("--pairs", type=int, nargs="+", help="N, every implementation")
    p.add_argument(
        "--streamed-pairs", type=int, nargs="*", help="CUDA: N for the streamed implementations only"
    )
    p.add_argument("--dims", type=int, nargs="+")
    p.add_argument("--dtypes", nargs="+", choices=DTYPE_NAMES, default=list(DTYPE_NAMES), help="CUDA mode")
    p.add_argument("--impls", nargs="+")
    p.add_argument("--parity-sizes", nargs="*", type=parse_size, metavar="NxD", help="CUDA mode")
    p.add_argument("--parity-backends", nargs="*", choices=("triton", "flex"), default=["triton", "flex"])
    p.add_argument("--repeats", type=int, default=3, help="timed calls where do_bench is not used")
    p.add_argument(
        "--memory-limit-gb", type=float, help="CUDA: cap for materialised rows (default: free memory)"
    )
    p.add_argument(
        "--budget-s", type=float, default=420.0, help="CUDA: seconds from start to the last measurement"
    )
    p.add_argument("--out-dir", type=Path, help="default benchmarks/results (smoke: a temporary folder)")
    p.add_argument("--output", help="CPU: results file stem (default contrast_kernels_cpu)")
    p.add_argument("--prewarm-workers", type=int, help="CUDA: compiling processes (0: none)")
    p.add_argument(
        "--prewarm-s",
        type=float,
        default=150.0,
        help="CUDA: longest prewarm (also at most 40%% of the budget)",
    )
    p.add_argument("--gemm-size", type=int)
    p.add_argument("--resume", type=Path, help="CUDA: continue the run whose JSON this is")
    p.add_argument("--started-at", type=float, help=argparse.SUPPRESS)
    p.add_argument("--install-libs", action="store_true", help="install benchmarks/.bench-libs and exit")
    p.add_argument("--worker", nargs=3, metavar=("IMPL", "PAIRS", "DIM"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = SMOKE_DEFAULTS if args.smoke else CUDA_DEFAULTS if args.device == "cuda" else CPU_DEFAULTS
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main() -> None:
    args = parse_args()
    if args.install_libs:
        ensure_bench_libs(install=True)
    elif args.worker:
        use_bench_libs()
        impl, pairs, dim = args.worker
        print(json.dumps(worker(impl, int(pairs), int(dim), args.repeats, args.memory_limit_gb)))
    elif args.smoke or args.device == "cuda":
        gpu_main(args)
    else:
        cpu_main(args)


if __name__ == "__main__":
    main()
