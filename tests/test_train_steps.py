"""``sslcore.testing.steps.train_steps``, the loop plugin tests use for "training lowers the loss"."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sslcore import TaskOutput
from sslcore.testing.steps import train_steps


def regression() -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    x = torch.randn(32, 3)
    return nn.Linear(3, 1), x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def test_losses_are_taken_before_each_update_and_fall() -> None:
    model, x, y = regression()
    first = float(nn.functional.mse_loss(model(x), y).detach())
    losses = train_steps(lambda _: nn.functional.mse_loss(model(x), y), model, steps=50, lr=0.1)
    assert len(losses) == 50 and losses[0] == pytest.approx(first)
    assert float(nn.functional.mse_loss(model(x), y).detach()) < losses[-1] < 0.1 * losses[0]


def test_task_outputs_step_numbers_and_after_step() -> None:
    model, x, y = regression()
    seen, after = [], []

    def loss(step: int) -> TaskOutput:
        seen.append(step)
        return TaskOutput(nn.functional.mse_loss(model(x), y))

    train_steps(loss, model, steps=3, after_step=after.append, optimizer=torch.optim.SGD)
    assert seen == after == [0, 1, 2]


def test_frozen_parameters_of_a_module_are_left_alone() -> None:
    model, x, y = regression()
    model.bias.requires_grad_(False)
    bias = model.bias.detach().clone()
    weight = model.weight.detach().clone()
    train_steps(lambda _: nn.functional.mse_loss(model(x), y), model, steps=5, lr=0.1)
    assert torch.equal(model.bias, bias) and not torch.equal(model.weight, weight)


def test_no_steps_is_refused() -> None:
    model, x, y = regression()
    with pytest.raises(ValueError, match="at least 1"):
        train_steps(lambda _: nn.functional.mse_loss(model(x), y), model, steps=0)
