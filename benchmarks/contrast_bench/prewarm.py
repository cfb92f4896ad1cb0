"""Compiling ahead, in parallel: a pool of spawned processes runs each signature of the plan once,
so that its kernels are in the on-disk caches before the measuring process needs them."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from .measure import describe, parity_run, precision, rounded_inputs, sync, timing_step
from .plan import Item, Parity, runs_on, signature


def _run_once(fn: Callable[[], object], *args: object, quantiles: Any = None, **kwargs: object) -> Any:
    """Stands in for ``triton.testing.do_bench`` in the prewarm workers: the autotuner then
    compiles and runs each candidate once (its choice there is discarded)."""
    import torch

    fn()
    torch.cuda.synchronize()
    return [1.0] * len(quantiles) if quantiles else 1.0


def configure_torch() -> None:
    """Enough recompiles for FlexAttention's one graph per shape (torch's default is 8)."""
    import torch._dynamo.config as dynamo

    name = "recompile_limit" if hasattr(dynamo, "recompile_limit") else "cache_size_limit"
    setattr(dynamo, name, 512)
    if hasattr(dynamo, "accumulated_recompile_limit"):
        dynamo.accumulated_recompile_limit = 4096


def _prewarm_init(device: str) -> None:
    configure_torch()
    if device == "cuda":
        import triton.testing

        triton.testing.do_bench = _run_once  # the autotuner looks it up at each use


def prewarm_one(task: tuple[Item, str]) -> tuple[str, str, float]:
    """Run ``item`` once in a worker: its kernels land in the on-disk caches."""
    item, device = task
    start = time.perf_counter()
    try:
        if isinstance(item, Parity):
            parity_run(item.loss, rounded_inputs(item), device, item.dtype, item.backend, item.prec)
        else:
            with precision("tf32"):
                timing_step(item, device)[0]()
            sync(device)
        status = "ok"
    except Exception as exc:  # reported; the measurement itself will meet it again
        status = describe(exc)
    return str(signature(item)), status, time.perf_counter() - start


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def prewarm_tasks(items: list[Item], device: str) -> list[tuple[Item, str]]:
    """One task per signature, in the order the measuring process needs them: Triton before
    FlexAttention (its graphs take longest to compile), parity before timings, tier by tier."""
    first: dict[str, tuple[Item, str]] = {}
    for i in sorted(items, key=lambda i: (i.impl == "flex", i.tier)):
        if (sig := signature(i)) is not None and runs_on(i.impl, device):
            first.setdefault(sig, (i, device))
    return list(first.values())


class Prewarm:
    """A pool of processes compiling what the plan needs, in the background, until every task is
    done or ``deadline`` (epoch seconds) has passed; then :meth:`close` terminates it."""

    def __init__(self, items: list[Item], device: str, workers: int, deadline: float) -> None:
        self.tasks = prewarm_tasks(items, device)
        self.start, self.deadline = time.time(), deadline
        self.done: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.finished = threading.Event()
        self.cond = threading.Condition()
        ctx = multiprocessing.get_context("spawn")
        # one compile thread per worker (inductor would start a pool of CPU-count processes in each)
        with environ(TORCHINDUCTOR_COMPILE_THREADS="1", TRITON_PRINT_AUTOTUNING="0"):
            size = max(1, min(workers, len(self.tasks)))
            self.pool = ctx.Pool(size, initializer=_prewarm_init, initargs=(device,))
        self.thread = threading.Thread(target=self._collect, daemon=True)
        self.thread.start()

    def _collect(self) -> None:
        try:
            results = self.pool.imap_unordered(prewarm_one, self.tasks)
            for _ in self.tasks:
                sig, status, seconds = results.next(timeout=max(0.0, self.deadline - time.time()))
                with self.cond:
                    if status == "ok":
                        self.done[sig] = round(seconds, 1)
                    else:
                        self.failed[sig] = status
                    self.cond.notify_all()
        except multiprocessing.TimeoutError:
            pass
        finally:
            with self.cond:
                self.finished.set()
                self.cond.notify_all()

    def snapshot(self) -> tuple[set[str], set[str]]:
        """The signatures compiled so far, and those whose worker failed."""
        with self.cond:
            return set(self.done), set(self.failed)

    def wait_change(self, known: int) -> None:
        """Block until more than ``known`` signatures are ready, or the prewarm is over."""
        with self.cond:
            self.cond.wait_for(
                lambda: self.finished.is_set() or len(self.done) + len(self.failed) > known,
                timeout=max(0.0, self.deadline - time.time()) + 5,
            )

    def summary(self) -> dict[str, Any]:
        """What the JSON records (also while running: a restart reads which kernels are cached)."""
        with self.cond:
            done, failed = dict(self.done), dict(self.failed)
        return {"tasks": len(self.tasks), "done": done, "failed": failed, "seconds": time.time() - self.start}

    def close(self) -> dict[str, Any]:
        """Wait for the end (all done, or the deadline), terminate the workers, summarise."""
        self.finished.wait(timeout=max(0.0, self.deadline - time.time()) + 5)
        self.pool.terminate()
        self.pool.join()
        out = self.summary()
        print(f"prewarm: {len(out['done'])} of {out['tasks']} signatures compiled, {len(out['failed'])} failed, "
              f"{out['seconds']:.0f} s", flush=True)  # fmt: skip
        return out
