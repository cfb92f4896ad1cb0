"""Training-step values kept on the device between log points (``float(loss)`` would wait for
the GPU every step): the log window's losses and metrics, and the NaN guard, read once per
``log_every`` steps and before every checkpoint, so a bad step still stops the run with its
step number and no checkpoint after it."""

from __future__ import annotations

import torch
from torch import Tensor

from sslcore.errors import NonFiniteLossError


class FiniteWatch:
    """The step and value of the first non-finite loss, recorded without a sync."""

    def __init__(self, device: torch.device):
        self.step = torch.full((), -1, dtype=torch.long, device=device)
        self.value = torch.zeros((), dtype=torch.float32, device=device)

    def record(self, loss: Tensor, step: int) -> None:
        first = ~torch.isfinite(loss) & (self.step < 0)
        self.step = torch.where(first, step, self.step)
        self.value = torch.where(first, loss.detach().float(), self.value)

    def check(self, checkpoint: object | None) -> None:
        """Raise :class:`NonFiniteLossError` if a non-finite loss was recorded (one sync)."""
        step = int(self.step)
        if step >= 0:
            raise NonFiniteLossError(step, float(self.value), checkpoint)


def window_mean(values: list[float | Tensor]) -> float:
    """The mean of a window of floats and (device) scalars, read back once."""
    if not values:
        return float("nan")
    tensors = [v.detach().reshape(()).double() for v in values if isinstance(v, Tensor)]
    if not tensors:
        return sum(values) / len(values)  # type: ignore[arg-type]
    total = torch.stack(tensors).sum().item() + sum(v for v in values if not isinstance(v, Tensor))
    return float(total) / len(values)
