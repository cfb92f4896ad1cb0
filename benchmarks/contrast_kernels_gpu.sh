#!/usr/bin/env bash
# The one prepared command of a GPU device session for the contrast-kernel benchmark
# (benchmarks/contrast_kernels.py, its docstring says how to prepare it). From the repo root:
#
#   run(command="bash benchmarks/contrast_kernels_gpu.sh", carry=["benchmarks/.bench-libs"], timeout_s=560)
#
# Needs: $OUT (the folder whose files come back), python3 with torch and triton, and the carried
# benchmarks/.bench-libs (lightly, pluggy, tqdm). Installs nothing: the checkout is imported
# through PYTHONPATH, the rest comes from .bench-libs. Writes three files to $OUT:
# contrast_kernels_cuda.json and .md (rewritten after every measurement) and
# contrast_kernels_cuda.log. BUDGET_S (default 420) is the benchmark's own time budget, counted
# from its start; LIMIT_S (default 525) kills it if a measurement overruns, so that the script
# ends inside the device command's 560 s. BENCH_ARGS is appended to the benchmark's arguments
# (e.g. BENCH_ARGS=--smoke tries this script on a machine without a GPU).
set -uo pipefail

: "${OUT:?set OUT to the folder whose files come back}"
BUDGET_S="${BUDGET_S:-420}"
LIMIT_S="${LIMIT_S:-525}"
cd "$(dirname "$0")/.."
LOG="$OUT/contrast_kernels_cuda.log"

{
    echo "== $(date -u +%FT%TZ) contrast kernels on the GPU; budget ${BUDGET_S} s, limit ${LIMIT_S} s"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,power.limit \
        --format=csv || echo "nvidia-smi failed"
    python3 -c 'import sys, torch, triton
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda,
      "| triton", triton.__version__, "| gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)'
    echo "cpus $(nproc), memory $(free -g | awk '/Mem:/ {print $2}') GiB, tmp $(df -h "${TMPDIR:-/tmp}" | awk 'NR==2 {print $4}') free"
} 2>&1 | tee "$LOG"

if [ ! -d benchmarks/.bench-libs/lightly ]; then
    echo "benchmarks/.bench-libs is missing: pass carry=[\"benchmarks/.bench-libs\"]" | tee -a "$LOG"
    exit 2
fi

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the script adds .bench-libs itself
export PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR="${TMPDIR:-/tmp}/sslcore-bench-triton-cache"  # shared by the prewarm workers
export TORCHINDUCTOR_CACHE_DIR="${TMPDIR:-/tmp}/sslcore-bench-inductor-cache"
unset TRITON_INTERPRET SSLCORE_FP32_PRECISION

timeout --signal=TERM --kill-after=10 "$LIMIT_S" \
    python3 benchmarks/contrast_kernels.py --device cuda --out-dir "$OUT" --budget-s "$BUDGET_S" ${BENCH_ARGS:-} 2>&1 |
    tee -a "$LOG"
rc=${PIPESTATUS[0]}
echo "== exit status $rc ($([ "$rc" = 124 ] && echo "killed at ${LIMIT_S} s; the results hold what was measured" || echo done))" |
    tee -a "$LOG"
ls -l "$OUT"
exit "$rc"
