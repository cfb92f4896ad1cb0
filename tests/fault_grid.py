"""The child side of the fault-injection suite (tests/test_fault_injection.py).

:func:`attempt` runs a two-run comparison grid of toy tasks into ``output`` in a process
forked from a forkserver that has already imported torch and sslcore (a fork costs
milliseconds, a fresh interpreter seconds). A fault is ``{"site", "at", "signal"}``: the
process sends itself ``signal`` the ``at``-th time execution reaches ``site``:

- ``step``: a training step (inside the trainer's stop-signal handling);
- ``checkpoint``: a checkpoint write, after the bytes went to the temporary file and
  before the rename (SIGKILL leaves the temporary file behind);
- ``write``: any other atomic write (config.json, the metrics log rewrite, results.jsonl),
  at the same point;
- ``probe``: a probe of the grid runner (pretrained, random init, raw features);
- ``record``: the runner's bookkeeping, as it starts to append a finished run's record.

Exit status: 0 when the grid completed, 130 when a stop signal ended it cleanly (the
runner's GridInterrupted or a KeyboardInterrupt), or death by the signal. With
``counts`` the number of times each site was reached is written there as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

import sslcore.compare.runner as runner
import sslcore.engine.checkpoint as checkpoint
import sslcore.io as io
from sslcore.compare import parse_grid, run_grid
from sslcore.compare.runner import GridInterrupted
from sslcore.engine.provenance import software_versions
from sslcore.engine.trainer import Trainer
from sslcore.plugins import Registry
from tests.test_compare import ComparePlugin
from tests.toy_tasks import AutoEncoder

STEPS = 12
GRID = f"""
[settings]
seeds = [0]
device = "cpu"
threads = 1
protocol = "knn"

[[run]]
task = ["ae", "contrast"]
dataset = "vecs"
budget = {{steps = {STEPS}}}
train = {{batch_size = 8, lr = 1e-2, checkpoint_every = 4, log_every = 3, keep_checkpoints = 1}}
"""
SITES = ("step", "checkpoint", "write", "probe", "record")


# warm what each process computes once (the installed distributions' file lists), here in
# the forkserver that imports this module, so that a forked attempt costs only its own work
software_versions(AutoEncoder.__new__(AutoEncoder))


def registry() -> Registry:
    """The toy tasks of tests/test_compare.py: an auto-encoder and a contrastive task whose
    views come from the global RNG (so resume must restore it)."""
    reg = Registry()
    reg.register(ComparePlugin(), "faults")
    return reg


class Faults:
    """Counts the sites reached and fires the fault at its ``at``-th hit."""

    def __init__(self, fault: dict[str, Any] | None):
        self.fault, self.hits = fault, Counter()

    def reach(self, site: str) -> None:
        self.hits[site] += 1
        if self.fault and self.fault["site"] == site and self.hits[site] == self.fault["at"]:
            os.kill(os.getpid(), self.fault["signal"])

    def wrap(self, site: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.reach(site)
            return fn(*args, **kwargs)

        return wrapped

    def wrap_write(self, site: str, real: Callable[..., Any]) -> Callable[..., Any]:
        """``atomic_write`` whose write callable reaches ``site`` after writing its bytes."""

        def atomic_write(path: Any, write: Callable[[Any], None]) -> Any:
            def write_then_reach(f: Any) -> None:
                write(f)
                f.flush()
                self.reach(site)

            return real(path, write_then_reach)

        return atomic_write

    def install(self) -> None:
        Trainer._step = self.wrap("step", Trainer._step)  # type: ignore[method-assign]
        checkpoint.atomic_write = self.wrap_write("checkpoint", checkpoint.atomic_write)
        io.atomic_write = self.wrap_write("write", io.atomic_write)
        runner.probe_embeddings = self.wrap("probe", runner.probe_embeddings)
        runner.append_result = self.wrap("record", runner.append_result)


def attempt(output: str, fault: dict[str, Any] | None = None, counts: str | None = None) -> None:
    """Run the grid into ``output`` under ``fault``; exits with the status described above."""
    # a shell starts a background job (``cmd &``) with SIGINT ignored, and children inherit
    # that: restore Python's handler so that a SIGINT fault interrupts wherever it fires
    signal.signal(signal.SIGINT, signal.default_int_handler)
    torch.set_num_threads(1)
    faults = Faults(fault)
    faults.install()
    try:
        run_grid(parse_grid(GRID), output, registry=registry(), log=lambda message: None)
        code = 0
    except (GridInterrupted, KeyboardInterrupt):
        code = 130
    if counts is not None:
        with open(counts, "w") as f:
            json.dump(dict(faults.hits), f)
    sys.stdout.flush()
    sys.exit(code)
