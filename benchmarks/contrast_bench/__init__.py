"""The contrast-kernel benchmark run by ``benchmarks/contrast_kernels.py``, whose docstring is the
user's documentation (run that script; this package holds its parts).

- ``libs``: the third-party libraries in ``benchmarks/.bench-libs``, lightly's ``NTXentLoss``
- ``losses``: the NT-Xent implementations compared, the median timer
- ``cpu``: the CPU mode (one subprocess per measurement)
- ``plan``: the CUDA mode's items, grid, plan order and cost guesses
- ``measure``: one CUDA-mode measurement: timing, memory, GEMM rates, parity
- ``prewarm``: the pool of processes compiling ahead
- ``bench``: the runner (budget, rows, restart after a sticky CUDA error)
- ``cuda``: the CUDA mode's main (meta, resume)
- ``fmt``, ``report``, ``acceptance``, ``smoke``: numbers in words, the Markdown report, the
  acceptance verdicts, the smoke run's check
"""

import time
from pathlib import Path

STARTED = time.time()  # the CUDA mode's time budget counts from here
HERE = Path(__file__).resolve().parent.parent  # benchmarks/
#: the entry point: the CPU mode runs it as a worker per measurement, a CUDA restart re-executes it
SCRIPT = HERE / "contrast_kernels.py"
