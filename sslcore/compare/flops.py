"""Estimated training compute: FLOPs of one optimisation step, counted by
``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplications and convolutions,
forward and backward) on one batch, times the number of steps. Element-wise work,
data loading and augmentation are not counted."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from sslcore.engine.batch import move_to
from sslcore.paradigms import AdversarialTask, PretextTask


def flops_per_step(task: PretextTask, samples: Sequence[Any], batch_size: int) -> float | None:
    """FLOPs of one training step of ``task`` on the first ``batch_size`` ``samples``;
    ``None`` (with a warning) if the step cannot be traced."""
    n = min(batch_size, len(samples))
    items = [(i, samples[i]) if task.needs_indices else samples[i] for i in range(n)]
    try:
        # the transfer hook (e.g. views built on the GPU) is data preparation, not the step
        batch = task.on_after_batch_transfer(move_to(task.collate(items), next(task.parameters()).device))
        task.train()
        with FlopCounterMode(display=False) as counter:
            for loss in step_losses(task, batch):
                loss.backward()
        task.zero_grad(set_to_none=True)
        return float(counter.get_total_flops())
    except Exception as exc:  # an estimate must never fail a comparison
        warnings.warn(f"could not count FLOPs of {type(task).__name__}: {exc}", stacklevel=2)
        return None


def step_losses(task: PretextTask, batch: Any) -> list[Tensor]:
    """The losses of one training step: the discriminator's and the generator's for an
    alternating adversarial task, else the task's one loss."""
    if isinstance(task, AdversarialTask) and task.schedule == "alternating":
        return [task.discriminator_loss(batch).loss, task.generator_loss(batch).loss]
    return [task(batch).loss]
