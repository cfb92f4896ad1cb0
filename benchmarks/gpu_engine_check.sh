#!/usr/bin/env bash
# The one prepared device command for issue 22 ("the engine on a GPU"): the throughput benchmark
# (benchmarks/gpu_throughput.py) and the whole test suite with CUDA present, in one call.
#
# 1. Here, once per checkout (no network needed; copies ../shared/data, which does not travel):
#
#      bash benchmarks/gpu_engine_check.sh --prepare
#
#    It copies the shared data folder (Fashion-MNIST, Cora, WikiText-2, SentEval: about 35 MB)
#    into .gpu-data/data and adds /.gpu-data/ to .git/info/exclude, so it travels only when carried.
# 2. The device call (from the repo root; the tree plus .gpu-data is about 40 MB of the 64 MiB):
#
#      run(command="bash benchmarks/gpu_engine_check.sh", carry=[".gpu-data"], timeout_s=590)
#
# On the device it: prints nvidia-smi and versions; checks that the image has every dependency
# (the nvidia-h200 image has them all: pluggy, tqdm, threadpoolctl, safetensors, tokenizers,
# transformers, torch_geometric, scikit-learn, scipy, matplotlib, pytest-xdist; none is carried
# as a wheel, but a carried .whl/ folder, if any, is installed first); makes the checkout, its
# three plugins and the example plugin importable without pip or network (PYTHONPATH, plus
# dist-info folders in /tmp written by benchmarks/gpu_throughput_bench/offline_dists.py so that
# the entry points -- sslcore.plugins, pytest11 -- are found, as after `pip install -e`);
# runs the throughput benchmark with a time budget (BENCH_S), then `pytest -n 8` with what is
# left of TOTAL_S (interrupted with SIGINT at its limit, so the JUnit file is still written),
# then adds the test results to the benchmark's acceptance table. The benchmark goes first: its
# figures exist nowhere else, and a slow test suite then costs only its own tail.
#
# Writes five files to $OUT: gpu_engine_check.log (everything), gpu_throughput.json and .md
# (the benchmark, with the acceptance table), pytest.log and pytest-junit.xml.
# Environment: TOTAL_S (default 540, the whole script), BENCH_S (230, the benchmark's budget),
# SECONDS_PER_FAMILY (12), BENCH_ARGS (appended to the benchmark's arguments, e.g.
# "--families dgi probe" or "--cpu-too"), PYTEST_ARGS (appended to pytest's), SKIP_BENCH=1,
# SKIP_PYTEST=1.
# A rerun with less device time left: e.g. TOTAL_S=200 BENCH_S=180 SKIP_PYTEST=1.
set -uo pipefail

cd "$(dirname "$0")/.."
DATA=.gpu-data/data

if [ "${1:-}" = "--prepare" ]; then
    src="${SSLCORE_TEST_DATA:-../shared/data}"
    [ -d "$src/fashion-mnist" ] || { echo "no shared data at $src (set SSLCORE_TEST_DATA)"; exit 2; }
    mkdir -p "$DATA"
    cp -rL "$src"/. "$DATA"/
    chmod -R u+w "$DATA"
    exclude="$(git rev-parse --git-path info/exclude)"
    mkdir -p "$(dirname "$exclude")"
    grep -qxF '/.gpu-data/' "$exclude" 2>/dev/null || echo '/.gpu-data/' >>"$exclude"
    du -sh .gpu-data
    git status --porcelain --ignored .gpu-data | head -3
    echo "prepared: carry=[\".gpu-data\"]"
    exit 0
fi

: "${OUT:?set OUT to the folder whose files come back}"
TOTAL_S="${TOTAL_S:-540}"
BENCH_S="${BENCH_S:-230}"
LOG="$OUT/gpu_engine_check.log"
REPO="$PWD"
log() { echo "== $(date -u +%T) [$SECONDS s] $*" | tee -a "$LOG"; }

{
    echo "== $(date -u +%FT%TZ) issue 22 engine check; total ${TOTAL_S} s, benchmark ${BENCH_S} s"
    nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.max.sm,power.limit \
        --format=csv || echo "nvidia-smi failed"
    echo "cpus $(nproc), memory $(free -g | awk '/Mem:/ {print $2}') GiB, git $(git rev-parse --short HEAD 2>/dev/null)"
} 2>&1 | tee "$LOG"

if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/sslcore-wheels \
        .whl/*.whl 2>&1 | tee -a "$LOG"
    export PYTHONPATH="/tmp/sslcore-wheels${PYTHONPATH:+:$PYTHONPATH}"
fi

# The checkout and its plugins, importable and registered without pip (see offline_dists.py).
SITE_PATH="$(python3 benchmarks/gpu_throughput_bench/offline_dists.py --site /tmp/sslcore-site \
    . plugins/vision plugins/nlp plugins/graph)" || { log "offline install failed"; exit 2; }
export PYTHONPATH="$SITE_PATH:$REPO/examples/sslcore-tabular${PYTHONPATH:+:$PYTHONPATH}"
export SSLCORE_TEST_DATA="$REPO/$DATA" SSLCORE_CACHE=/tmp/sslcore-cache PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR=/tmp/sslcore-triton-cache TORCHINDUCTOR_CACHE_DIR=/tmp/sslcore-inductor-cache
unset TRITON_INTERPRET SSLCORE_FP32_PRECISION

python3 - <<'EOF' 2>&1 | tee -a "$LOG"
import importlib, importlib.metadata as md, sys
print("python", sys.version.split()[0])
for name in ["torch", "triton", "torchvision", "torch_geometric", "transformers", "tokenizers", "pluggy",
             "tqdm", "threadpoolctl", "safetensors", "sklearn", "scipy", "numpy", "matplotlib", "pytest",
             "xdist", "filelock", "tensorboard"]:
    try:
        print(f"  {name} {getattr(importlib.import_module(name), '__version__', '?')}")
    except Exception as exc:  # noqa: BLE001
        print(f"  MISSING {name}: {exc}")
import torch
print("cuda", torch.version.cuda, "available", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
print("dists", [f"{d.metadata['Name']} {d.version}" for d in md.distributions() if "sslcore" in d.metadata["Name"]])
EOF
python3 -m sslcore plugins 2>&1 | tee -a "$LOG"
[ -d "$DATA/fashion-mnist" ] || log "WARNING: $DATA is missing: run --prepare here and carry .gpu-data"

bench_rc=0
if [ "${SKIP_BENCH:-0}" != 1 ]; then
    log "throughput benchmark, budget ${BENCH_S} s"
    timeout --signal=TERM --kill-after=10 "$((BENCH_S + 40))" \
        python3 benchmarks/gpu_throughput.py --device cuda --budget-s "$BENCH_S" \
        --seconds-per-family "${SECONDS_PER_FAMILY:-12}" --out-dir "$OUT" --name gpu_throughput ${BENCH_ARGS:-} 2>&1 |
        tee -a "$LOG"
    bench_rc=${PIPESTATUS[0]}
    log "benchmark exit status $bench_rc"
fi

pytest_rc=0
if [ "${SKIP_PYTEST:-0}" != 1 ]; then
    limit=$((TOTAL_S - SECONDS - 20))
    log "pytest -n 8 with CUDA present, limit ${limit} s"
    if [ "$limit" -gt 30 ]; then
        timeout --signal=INT --kill-after=20 "$limit" \
            python3 -m pytest -n 8 -q -rfE -p no:cacheprovider --durations=15 \
            --junitxml="$OUT/pytest-junit.xml" ${PYTEST_ARGS:-} >"$OUT/pytest.log" 2>&1
        pytest_rc=$?
        tail -n 60 "$OUT/pytest.log" | tee -a "$LOG"
        log "pytest exit status $pytest_rc ($([ "$pytest_rc" = 124 ] && echo "stopped at ${limit} s" || echo done))"
    else
        log "no time left for pytest"
    fi
    if [ -f "$OUT/gpu_throughput.json" ]; then
        python3 benchmarks/gpu_throughput.py --device cuda --report-only --out-dir "$OUT" \
            --name gpu_throughput --pytest-junit "$OUT/pytest-junit.xml" --pytest-exit-code "$pytest_rc" \
            --pytest-selection "${PYTEST_ARGS:-}" 2>&1 | tee -a "$LOG"
    fi
fi
ls -l "$OUT" | tee -a "$LOG"
exit $((bench_rc != 0 || pytest_rc != 0))
