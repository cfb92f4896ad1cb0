"""The CUDA mode's runner: the budget, one row per item, the results files rewritten after every
row, a fresh process (``--resume``) after a sticky CUDA error."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import SCRIPT
from .fmt import summary
from .measure import describe, gemm_rates, measure_parity, measure_timing, parity_run, rounded_inputs
from .plan import (
    AUTOTUNE_CALLS,
    CALLS,
    COMPILE_S,
    FIRST_CALL_S,
    GUESS_RATIO,
    ITEM_S,
    MIN_CALL_S,
    PARITY_S,
    Grid,
    Item,
    Parity,
    Timing,
    floor_flops,
    materialised_need,
    rate_name,
    runs_on,
    signature,
)
from .prewarm import Prewarm
from .report import markdown

if TYPE_CHECKING:
    from torch import Tensor

#: exception types of a FlexAttention graph that does not compile (e.g. a row width its kernels
#: cannot hold): flex is not tried again at that dtype and width in this run
COMPILE_ERRORS = ("InductorError", "BackendCompilerFailed", "LoweringException", "OutOfResources")
#: parity rows whose kernels were not compiled during the prewarm run after the acceptance
#: timings (tiers 3-5), before the rest of the grid
DEFERRED_PARITY_TIER = 5.5
RESTART_ENV = "SSLCORE_BENCH_RESTARTS"
MAX_RESTARTS = 2


def cuda_broken() -> bool:
    """Whether the CUDA context is unusable (a sticky error: illegal address, device assert)."""
    import torch

    try:
        torch.cuda.synchronize()
        torch.ones(1, device="cuda").add_(1).item()
        return False
    except Exception:
        return True


@dataclass
class Bench:
    args: argparse.Namespace
    grid: Grid
    device: str
    start: float  # epoch seconds: the budget counts from here, across restarts
    items: list[Item]
    meta: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)  # signatures run in this process
    prewarmed: set[str] = field(default_factory=set)
    observed: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)  # -> (flops, ratio)
    refs: dict[tuple[str, str, int, int], tuple[Tensor, dict[str, Tensor]]] = field(default_factory=dict)
    uncompilable: dict[tuple[str, str, int], str] = field(default_factory=dict)  # (impl, dtype, d) -> why
    pool: Prewarm | None = None
    broken: bool = False

    @property
    def stem(self) -> Path:
        return self.args.out_dir / f"contrast_kernels_{'smoke' if self.args.smoke else 'cuda'}"

    def left(self) -> float:
        return self.args.budget_s - (time.time() - self.start)

    def write(self) -> None:
        from sslcore.io import atomic_write_text

        self.meta["elapsed_s"] = round(time.time() - self.start, 1)
        doc = {"meta": self.meta, "plan": [{"key": i.key, "tier": i.tier} for i in self.items]}
        doc["results"] = self.results
        atomic_write_text(self.stem.with_suffix(".json"), json.dumps(doc, indent=1, default=str) + "\n")
        atomic_write_text(self.stem.with_suffix(".md"), markdown(self))

    def capacity(self) -> float:
        """Bytes a materialised measurement may use."""
        import torch

        limit = self.args.memory_limit_gb * 2**30 if self.args.memory_limit_gb else float("inf")
        if self.device != "cuda":
            return limit
        gc.collect()
        torch.cuda.empty_cache()
        return min(limit, 0.95 * torch.cuda.mem_get_info()[0])

    def call_s(self, item: Timing) -> float:
        """Predicted seconds of one call: the ratio measured at the largest size so far, else a guess."""
        ratio = self.observed.get((item.family, item.dtype), (0.0, GUESS_RATIO[item.family][item.dtype]))[1]
        rate = self.meta["matmul_flops"][rate_name(item.dtype)]
        return max(MIN_CALL_S, ratio * floor_flops(item.pairs, item.dim) / rate)

    def first_call_s(self, item: Item) -> float:
        """Compiling, tracing, autotuning: what a signature's first call in this process adds."""
        sig = signature(item)
        if sig is None or sig in self.seen:
            return 0.0
        compile_s = COMPILE_S if self.device == "cuda" and sig not in self.prewarmed else 0.0
        return compile_s + FIRST_CALL_S["flex" if item.impl == "flex" else "triton"]

    def estimate_s(self, item: Item) -> float:
        if isinstance(item, Parity):
            return PARITY_S + self.first_call_s(item)
        tuning = AUTOTUNE_CALLS if item.family == "triton" and signature(item) not in self.seen else 0
        return ITEM_S + self.first_call_s(item) + (CALLS + tuning) * self.call_s(item)

    def reference(self, item: Parity) -> tuple[Tensor, dict[str, Tensor]]:
        """Float64 loss and gradients of the item's (rounded) inputs, backend ``reference``."""
        key = (item.loss, item.dtype, item.pairs, item.dim)
        if key not in self.refs:
            rounded = rounded_inputs(item)
            self.refs[key] = parity_run(item.loss, rounded, self.device, "fp64", "reference", "ieee")
        return self.refs[key]

    def measure(self, item: Item) -> dict[str, Any]:
        if isinstance(item, Parity):
            return measure_parity(item, self.device, self.reference(item))
        return measure_timing(item, self.device, self.meta["matmul_flops"], self.args.repeats)

    def precheck(self, item: Item) -> dict[str, Any] | None:
        """The row of an item that is not run: cannot run here, does not fit, or no time left."""
        if not runs_on(item.impl, self.device):
            return {"status": "unsupported", "reason": f"{item.impl} needs CUDA tensors (CPU smoke run)"}
        if self.broken:
            return {"status": "skipped", "reason": "the CUDA context broke and no restart is left"}
        if why := self.uncompilable.get((item.impl, item.dtype, item.dim)):
            return {"status": "error", "error": f"not run, an earlier row did not compile: {why}"}
        need = materialised_need(item)
        if need and need > (cap := self.capacity()):
            return {"status": "does not fit", "need_bytes": need, "capacity_bytes": cap}
        est, left = self.estimate_s(item), self.left()
        if est > left:
            return {
                "status": "skipped",
                "reason": f"time budget: needs ~{est:.0f} s, {max(left, 0):.0f} s left",
            }
        return None

    def run(self, item: Item) -> None:
        import torch

        row = self.precheck(item)
        if row is None:
            start, est = time.time(), self.estimate_s(item)
            try:
                row = self.measure(item)
            except torch.cuda.OutOfMemoryError as exc:
                row = {"status": "oom", "error": describe(exc)}
            except Exception as exc:  # one measurement's failure is its row, not the run's end
                row = {"status": "error", "error": describe(exc)}
                if item.impl == "flex" and type(exc).__name__ in COMPILE_ERRORS:
                    self.uncompilable[(item.impl, item.dtype, item.dim)] = f"{item.key}: {row['error']}"
            finally:
                gc.collect()
                if self.device == "cuda":
                    torch.cuda.empty_cache()
            row |= {"wall_s": round(time.time() - start, 2), "estimate_s": round(est, 1)}
            if (sig := signature(item)) is not None:
                self.seen.add(sig)
        self.record(item, row)
        if row["status"] == "error" and self.device == "cuda" and cuda_broken():
            self.restart()

    def record(self, item: Item, row: dict[str, Any]) -> None:
        self.results[item.key] = {"kind": type(item).__name__.lower(), **asdict(item), **row}
        if isinstance(item, Timing) and row["status"] == "ok":
            flops = floor_flops(item.pairs, item.dim)
            if flops >= self.observed.get((item.family, item.dtype), (0.0, 0.0))[0]:
                self.observed[(item.family, item.dtype)] = (flops, row["ratio"])
        self.write()
        print(f"[{time.time() - self.start:6.1f} s] {item.key}: {summary(row)}", flush=True)

    def restart(self) -> None:
        """Continue in a fresh process (``--resume``) after a sticky CUDA error."""
        count = int(os.environ.get(RESTART_ENV, "0"))
        if count >= MAX_RESTARTS:
            self.broken = True
            return
        os.environ[RESTART_ENV] = str(count + 1)
        json_path = self.stem.with_suffix(".json")
        extra = ["--resume", str(json_path), "--started-at", repr(self.start), "--prewarm-workers", "0"]
        print(f"CUDA context broken: restarting ({count + 1} of {MAX_RESTARTS})", flush=True)
        if self.pool:
            self.pool.pool.terminate()
        os.execv(sys.executable, [sys.executable, str(SCRIPT), *sys.argv[1:], *extra])

    def pending(self) -> list[Item]:
        """What is left, in plan order, except that parity rows not run yet (kernels not compiled
        during the prewarm, or no prewarm) go after the acceptance timings: compiling them here
        costs tens of seconds each."""
        left = [i for i in self.items if self.results.get(i.key, {}).get("status", "skipped") == "skipped"]
        return sorted(left, key=lambda i: i.tier if isinstance(i, Timing) else DEFERRED_PARITY_TIER)

    def overlap(self, pool: Prewarm) -> None:
        """Parity rows (accuracy only) while the workers compile: whichever row's kernels are
        ready, in plan order, until the prewarm is over."""
        todo = [i for i in self.items if isinstance(i, Parity) and i.key not in self.results]
        while todo:
            self.prewarmed, failed = pool.snapshot()
            ready = self.prewarmed | failed
            item = next((i for i in todo if signature(i) in ready), None)
            if item is None:
                if pool.finished.is_set():
                    return
                pool.wait_change(len(ready))
                continue
            todo.remove(item)
            self.meta["prewarm"] = pool.summary()
            self.run(item)

    def execute(self) -> None:
        """GEMM rates on a quiet GPU; parity rows during the prewarm; timings on a quiet GPU."""
        if "matmul_flops" not in self.meta:
            self.meta["matmul_flops"] = gemm_rates(self.device, self.args.gemm_size, self.args.repeats)
        self.write()
        self.prewarmed = set(self.meta.get("prewarm", {}).get("done", {}))
        if self.args.prewarm_workers:
            deadline = self.start + min(self.args.prewarm_s, 0.4 * self.args.budget_s)
            self.pool = Prewarm(self.items, self.device, self.args.prewarm_workers, deadline)
            self.overlap(self.pool)
            self.meta["prewarm"] = self.pool.close()
            self.prewarmed = set(self.meta["prewarm"]["done"])
            self.pool = None
        for item in self.pending():
            self.run(item)
        self.meta["autotuned"] = autotuned_configs()
        self.meta["complete"] = all(r["status"] != "skipped" for r in self.results.values())
        self.meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.write()
        print(self.stem.with_suffix(".md").read_text())


def autotuned_configs() -> dict[str, dict[str, str]]:
    """The tiles the Triton autotuner chose in this process, by kernel and tuning key."""
    module = sys.modules.get("sslcore.contrast.triton_lse")
    tuned = getattr(module, "_TUNED", {}) if module else {}
    return {
        str(k): {str(key): str(cfg) for key, cfg in getattr(t, "cache", {}).items()} for k, t in tuned.items()
    }
