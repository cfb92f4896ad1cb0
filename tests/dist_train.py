"""A training script for the fault and multi-process tests, run as a subprocess (``python
tests/dist_train.py ...``) or under ``torchrun`` (``python -m torch.distributed.run
--nproc-per-node 2 tests/dist_train.py ...``).

It pretrains a toy task from :mod:`tests.toy_tasks` through :func:`sslcore.runs.pretrain`
with an in-process registry (no plugin needed), so the launch path is the real one:
process group from torchrun's environment, rank-0-only run files, automatic resume after
an elastic restart. Faults are injected by the task: ``kill_at`` (the last rank kills
itself with SIGKILL at that step on the first attempt) and the environment variable
``DIST_TRAIN_SLEEP`` (seconds to wait after each step, to give a test time to send a
signal). Prints ``RESULT <json>`` on rank 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from torch import Tensor  # noqa: E402

from sslcore import DatasetBundle, DatasetSpec, EncoderSpec, EvalSet, Paradigm, TaskSpec, hookimpl  # noqa: E402
from sslcore.plugins import Registry  # noqa: E402
from sslcore.runs import pretrain  # noqa: E402
from tests.toy_tasks import DIM, AutoEncoder, NoisyViewsContrast, VectorEncoder, random_vectors  # noqa: E402

NUM_SAMPLES = 36


class FaultMixin:
    """``kill_at``: SIGKILL the last rank after that step on the first torchrun attempt;
    ``DIST_TRAIN_SLEEP``: wait that long after every step."""

    def __init__(self, encoder: Any, kill_at: int = 0, **options: Any):
        super().__init__(encoder, **options)  # type: ignore[call-arg]
        self.kill_at, self.steps_done = kill_at, 0
        self.sleep = float(os.environ.get("DIST_TRAIN_SLEEP", "0"))

    def on_train_step_end(self, progress: float) -> None:
        self.steps_done += 1
        first_attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
        last_rank = int(os.environ.get("RANK", "0")) == int(os.environ.get("WORLD_SIZE", "1")) - 1
        if self.kill_at and self.steps_done == self.kill_at and first_attempt and last_rank:
            os.kill(os.getpid(), signal.SIGKILL)
        if self.sleep:
            time.sleep(self.sleep)


class FaultyAutoEncoder(FaultMixin, AutoEncoder):
    """:class:`AutoEncoder` (loss: a mean over the batch) with faults."""


class FaultyContrast(FaultMixin, NoisyViewsContrast):
    """:class:`NoisyViewsContrast` (NT-Xent over the global batch) with faults."""


def vectors(root: Any) -> DatasetBundle:
    data: list[Tensor] = random_vectors(NUM_SAMPLES)
    labelled = [(x, int(x[0] > 0)) for x in data]
    splits = {"train": np.arange(24), "test": np.arange(24, NUM_SAMPLES)}
    return DatasetBundle("vecs", "toy", "row", data, EvalSet(labelled, splits, 16, 2), info={"dim": DIM})


class ToyPlugin:
    @hookimpl
    def sslcore_register_tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec("ae", "toy", Paradigm.GENERATIVE, FaultyAutoEncoder, default_encoder="vec"),
            TaskSpec(
                "contrast",
                "toy",
                Paradigm.CONTRASTIVE,
                FaultyContrast,
                default_encoder="vec",
                family="instance-instance",
                negatives="end-to-end",
            ),
        ]

    @hookimpl
    def sslcore_register_encoders(self) -> list[EncoderSpec]:
        return [EncoderSpec("vec", "toy", lambda info: VectorEncoder(info["dim"]))]

    @hookimpl
    def sslcore_register_datasets(self) -> list[DatasetSpec]:
        return [DatasetSpec("vecs", "toy", vectors, "row", needs_root=False)]


def toy_registry() -> Registry:
    registry = Registry()
    registry.register(ToyPlugin(), "toy")
    return registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    parser.add_argument("--task", default="ae", choices=("ae", "contrast"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--patience", type=int, default=None)
    args = parser.parse_args(argv)
    task_options: dict[str, Any] = {"kill_at": args.kill_at}
    if args.task == "contrast":
        task_options["noise"] = 0.0  # deterministic views: the loss depends on the data order only
    result = pretrain(
        args.task,
        "vecs",
        args.output,
        task_options=task_options,
        resume=args.resume,
        registry=toy_registry(),
        steps=args.steps,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        lr=0.05,
        warmup=0.2,
        seed=3,
        threads=1,
        device="cpu",
        log_every=1,
        progress_bar=False,
        patience=args.patience,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        fields = ("steps", "samples", "interrupted", "world_size", "final_loss", "stopped_early")
        record = {k: getattr(result, k) for k in fields}
        record["first_step"] = result.history[0]["step"] if result.history else None
        record["checkpoint"] = str(result.checkpoint)
        print("RESULT " + json.dumps(record), flush=True)
    return 0 if result.interrupted is None else 128 + int(signal.SIGTERM)


if __name__ == "__main__":
    sys.exit(main())
