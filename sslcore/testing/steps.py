"""A few optimiser steps on one loss: the loop behind "training lowers the loss" tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from sslcore.paradigms import TaskOutput


def train_steps(
    loss: Callable[[int], Tensor | TaskOutput],
    params: nn.Module | Iterable[nn.Parameter],
    steps: int,
    lr: float = 0.01,
    optimizer: type[torch.optim.Optimizer] = torch.optim.Adam,
    after_step: Callable[[int], None] | None = None,
) -> list[float]:
    """Run ``steps`` updates of ``optimizer(params, lr)`` on ``loss(step)`` (a scalar tensor
    or a :class:`TaskOutput`; ``step`` counts from 0) and return each step's loss, taken
    before its update. ``params``: a module (its parameters that require gradients) or
    the parameters themselves; ``after_step(step)`` runs after each update (e.g. a
    momentum task's ``on_train_step_end``)."""
    if steps < 1:
        raise ValueError(f"train_steps: steps must be at least 1, got {steps}")
    if isinstance(params, nn.Module):
        params = [p for p in params.parameters() if p.requires_grad]
    opt = optimizer(params, lr=lr)
    losses = []
    for step in range(steps):
        out = loss(step)
        value = out.loss if isinstance(out, TaskOutput) else out
        opt.zero_grad()
        value.backward()
        opt.step()
        if after_step is not None:
            after_step(step)
        losses.append(float(value.detach()))
    return losses
