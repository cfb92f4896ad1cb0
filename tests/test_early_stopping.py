"""Early stopping on the training loss (``TrainConfig.patience``): where a run stops, which
weights it ends at, and that a resumed run stops where an uninterrupted one does."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from torch import Tensor

from sslcore import ConfigError, TaskOutput
from sslcore.cli import add_train_arguments, train_options
from sslcore.engine import CheckpointDir, TrainConfig, Trainer, load_checkpoint
from sslcore.engine.early_stopping import EarlyStopping
from sslcore.recipes import Recipe, apply_recipe
from tests.toy_tasks import AutoEncoder, VectorEncoder, random_vectors

LR = 0.1
#: lowest at step 3; steps 4-6 do not fall below it (4.0 is not below an equal best either)
LOSSES = [5.0, 4.0, 3.0, 3.5, 3.0, 3.1, 2.0, 1.0, 0.5, 0.2]


class ScriptedLoss(AutoEncoder):
    """A task whose step ``k`` (1-based) reports ``losses[k - 1]`` while its gradient is 1 on
    every element of the encoder's bias: under plain SGD, after ``k`` steps the bias is its
    initial value minus ``k * lr``, so the weights tell which step they are from. The step
    counter is a buffer, restored with the weights from a checkpoint. ``crash_at``: raise
    at the end of that step (before its checkpoint), as a killed run."""

    def __init__(self, losses: list[float], crash_at: int | None = None):
        torch.manual_seed(0)
        super().__init__(VectorEncoder())
        self.losses, self.crash_at = losses, crash_at
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, batch: Tensor) -> TaskOutput:
        bias = self.encoder.linear.bias
        value = self.losses[int(self.calls)]
        self.calls += 1
        return TaskOutput(value + (bias - bias.detach()).sum(), {})

    def on_train_step_end(self, progress: float) -> None:
        if int(self.calls) == self.crash_at:
            raise KeyboardInterrupt


def config(**overrides) -> TrainConfig:
    values = dict(
        steps=len(LOSSES), batch_size=4, optimizer="sgd", momentum=0.0, weight_decay=0.0, lr=LR,
        warmup=0.0, min_lr_ratio=1.0, device="cpu", progress_bar=False, log_every=1, checkpoint_every=1000,
        patience=3,
    )  # fmt: skip
    return TrainConfig(**(values | overrides))


def bias_after(steps: int) -> Tensor:
    return ScriptedLoss(LOSSES).encoder.linear.bias.detach() - steps * LR


def test_stops_after_patience_steps_without_a_new_lowest_loss() -> None:
    stopper, module = EarlyStopping(2), torch.nn.Linear(2, 2)
    stops = [stopper.update(loss, step, module) for step, loss in enumerate([3.0, 2.0, 2.0, 2.5], 1)]
    assert stops == [False, False, False, True]  # an equal loss is not a new lowest
    assert (stopper.best_step, stopper.best_loss) == (2, 2.0)
    with pytest.raises(ValueError, match="patience must be >= 1"):
        EarlyStopping(0)


def test_restore_loads_the_lowest_loss_weights() -> None:
    stopper, module = EarlyStopping(5), torch.nn.Linear(2, 2)
    stopper.update(1.0, 1, module)
    best = {k: v.clone() for k, v in module.state_dict().items()}
    with torch.no_grad():
        module.weight.add_(1.0)
    stopper.update(2.0, 2, module)
    stopper.restore(module)
    assert all(torch.equal(module.state_dict()[k], best[k]) for k in best)


def test_trainer_stops_early_and_ends_at_the_lowest_loss_step(tmp_path: Path) -> None:
    task = ScriptedLoss(LOSSES)
    result = Trainer(task, config(), tmp_path).fit(random_vectors(4))
    assert (result.steps, result.completed) == (6, True)  # lowest at 3, then 3 steps without
    assert result.stopped_early is not None and "step 3 " in result.stopped_early
    assert torch.allclose(task.encoder.linear.bias, bias_after(3))
    saved = load_checkpoint(CheckpointDir(tmp_path / "checkpoints").paths()[-1])
    assert saved["step"] == 6 and torch.allclose(saved["model"]["encoder.linear.bias"], bias_after(3))
    assert saved["early_stopping"]["best_step"] == 3


def test_without_patience_the_whole_budget_trains() -> None:
    task = ScriptedLoss(LOSSES)
    result = Trainer(task, config(patience=None)).fit(random_vectors(4))
    assert (result.steps, result.stopped_early) == (len(LOSSES), None)
    assert torch.allclose(task.encoder.linear.bias, bias_after(len(LOSSES)))


def test_a_budget_reached_first_also_ends_at_the_lowest_loss_weights() -> None:
    task = ScriptedLoss(LOSSES)
    result = Trainer(task, config(steps=5, patience=10)).fit(random_vectors(4))
    assert (result.steps, result.completed, result.stopped_early) == (5, True, None)
    assert torch.allclose(task.encoder.linear.bias, bias_after(3))


def test_a_resumed_run_stops_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    straight = ScriptedLoss(LOSSES)
    Trainer(straight, config()).fit(random_vectors(4))
    with pytest.raises(KeyboardInterrupt):  # killed after step 5, the last checkpoint at step 4
        Trainer(ScriptedLoss(LOSSES, crash_at=5), config(checkpoint_every=2), tmp_path).fit(random_vectors(4))
    resumed = ScriptedLoss(LOSSES)
    result = Trainer(resumed, config(checkpoint_every=2), tmp_path).fit(random_vectors(4), resume=True)
    # the counters came back (lowest at step 3, one step waited): without them step 5 would be a
    # new lowest loss and the run would go on to step 10
    assert (result.steps, result.stopped_early is not None) == (6, True)
    assert torch.allclose(resumed.encoder.linear.bias, straight.encoder.linear.bias)
    assert torch.allclose(resumed.encoder.linear.bias, bias_after(3))
    again = Trainer(ScriptedLoss(LOSSES), config(checkpoint_every=2), tmp_path).fit(
        random_vectors(4), resume=True
    )
    assert (again.new_steps, again.completed) == (0, True)  # stopped early: nothing left to train


@pytest.mark.parametrize("value", [0, -3, 2.5])
def test_patience_must_be_a_positive_integer(value) -> None:
    with pytest.raises(ConfigError, match="patience"):
        config(patience=value)


def test_patience_on_the_command_line_and_from_a_recipe() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert train_options(parser.parse_args(["--patience", "20"])) == {"patience": 20}
    assert train_options(parser.parse_args(["--patience", "none"])) == {"patience": None}
    recipe = Recipe(train={"epochs": 3000, "patience": 20}, dataset="cora", reference="a paper")
    # a budget of the user's replaces the recipe's budget, not its patience (a stop within it)
    assert apply_recipe(recipe, {"epochs": 5}).train == {"epochs": 5, "patience": 20}
    assert apply_recipe(recipe, {"patience": None}).train == {"epochs": 3000, "patience": None}
