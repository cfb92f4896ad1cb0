"""Early stopping on the training loss, the protocol of DGI's and MVGRL's reference code
(``patience = 20``): stop once the per-step loss has not fallen below its lowest value for
``patience`` consecutive steps, and end at the weights of that lowest-loss step.

The best weights are a copy of the task's ``state_dict`` kept where the weights are (one more
copy of the model in memory), refreshed on every step that lowers the loss; a checkpoint
stores them, with the counters, so a resumed run stops exactly where an uninterrupted one
would."""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor, nn


class EarlyStopping:
    """Counts the steps since the lowest training loss and keeps that step's weights.

    ``update(loss, step, module)`` after every applied step (skipped steps do not count);
    it returns True once ``patience`` steps in a row have not improved on the lowest loss,
    and :meth:`restore` then loads the lowest-loss weights back into ``module``."""

    def __init__(self, patience: int):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience = patience
        self.best_loss = math.inf
        self.best_step = 0
        self.waited = 0
        self.best_state: dict[str, Tensor] | None = None

    def update(self, loss: float, step: int, module: nn.Module) -> bool:
        """Record step ``step``'s ``loss``; True when training should stop."""
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.waited = loss, step, 0
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            self.waited += 1
        return self.stopped

    @property
    def stopped(self) -> bool:
        """``patience`` steps in a row without a new lowest loss."""
        return self.waited >= self.patience

    def restore(self, module: nn.Module) -> None:
        """Load the lowest-loss step's weights into ``module`` (nothing before any step)."""
        if self.best_state is not None:
            module.load_state_dict(self.best_state)

    def describe(self) -> str:
        return (
            f"stopped early: the training loss had not fallen below its lowest value for {self.patience} "
            f"steps; the weights are those of step {self.best_step} (loss {self.best_loss:.4f})"
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "patience": self.patience,
            "best_loss": self.best_loss,
            "best_step": self.best_step,
            "waited": self.waited,
            "best_model": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Counters and best weights from :meth:`state_dict` (the patience stays this run's)."""
        self.best_loss, self.best_step = float(state["best_loss"]), int(state["best_step"])
        self.waited, self.best_state = int(state["waited"]), state["best_model"]
