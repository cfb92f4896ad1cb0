"""A momentum (EMA) copy of online modules: MoCo's key encoder, BYOL's target network."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sslcore.contrast import MomentumUpdater, momentum_copy

#: steps of the cosine momentum schedule over training progress in [0, 1]
SCHEDULE_STEPS = 10_000


class MomentumTarget(nn.Module):
    r"""The EMA :math:`\xi` of online modules :math:`\theta` applied in sequence.

    .. math::
        \xi \leftarrow m\,\xi + (1 - m)\,\theta, \qquad
        m = m_0 \ \text{(constant)} \quad\text{or}\quad
        m(p) = 1 - (1 - m_0)\,\frac{\cos(\pi p) + 1}{2} \ \text{(``ramp``, BYOL)}

    over training progress :math:`p \in [0, 1]`. Buffers (BatchNorm statistics) are
    copied from the online modules. Parameters never require grad; :meth:`forward` runs
    without autograd and returns what the online modules would (e.g. ``[N, proj_dim]``).
    """

    def __init__(self, *online: nn.Module, base_momentum: float, ramp: bool = False):
        super().__init__()
        self.network = momentum_copy(nn.Sequential(*online))
        self.updater = MomentumUpdater(base_momentum, total_steps=SCHEDULE_STEPS if ramp else None)

    @torch.no_grad()
    def forward(self, inputs: Tensor) -> Tensor:
        return self.network(inputs)

    def momentum(self, progress: float) -> float:
        return self.updater.momentum(round(progress * SCHEDULE_STEPS))

    def update(self, *online: nn.Module, progress: float) -> float:
        """EMA step towards ``online`` (the modules given at construction, same order);
        returns the momentum used."""
        return self.updater.update(self.network, nn.Sequential(*online), round(progress * SCHEDULE_STEPS))
