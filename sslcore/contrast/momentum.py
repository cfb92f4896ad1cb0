"""Momentum (EMA) target networks: MoCo (He et al. 2020), BYOL (Grill et al. 2020)."""

from __future__ import annotations

import copy
import math
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


def momentum_copy(module: M) -> M:
    """A deep copy of ``module`` to serve as its momentum target: same weights, buffers
    and train/eval mode, every parameter with ``requires_grad=False`` and no ``.grad``."""
    target = copy.deepcopy(module)
    for p in target.parameters():
        p.requires_grad_(False)
        p.grad = None
    return target


def _check_momentum(name: str, momentum: float) -> float:
    m = float(momentum)
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"{name}: momentum must be in [0, 1], got {momentum}")
    return m


def _matching(kind: str, target: dict[str, torch.Tensor], online: dict[str, torch.Tensor]) -> None:
    if target.keys() != online.keys():
        missing, extra = sorted(online.keys() - target.keys()), sorted(target.keys() - online.keys())
        raise ValueError(
            f"ema_update: target and online {kind} differ: missing in target {missing}, not in online {extra}"
        )
    for key, t in target.items():
        if t.shape != online[key].shape:
            raise ValueError(
                f"ema_update: {kind[:-1]} {key!r} has shape {tuple(t.shape)} in target but "
                f"{tuple(online[key].shape)} in online"
            )


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    r"""Exponential moving average of ``online``'s parameters into ``target``, in place.

    .. math::
        \xi \leftarrow m\,\xi + (1 - m)\,\theta

    for every parameter (matched by name), and every buffer (BatchNorm statistics,
    counters) copied from ``online``. ``m = 1`` leaves the parameters unchanged,
    ``m = 0`` copies them. No gradient is recorded.

    Args:
        target: the momentum network :math:`\xi` (e.g. from :func:`momentum_copy`).
        online: the trained network :math:`\theta`, same parameter and buffer names and shapes.
        momentum: :math:`m \in [0, 1]` (MoCo: 0.999; BYOL: :func:`cosine_momentum`).
    """
    m = _check_momentum("ema_update", momentum)
    t_params, o_params = dict(target.named_parameters()), dict(online.named_parameters())
    t_bufs, o_bufs = dict(target.named_buffers()), dict(online.named_buffers())
    _matching("parameters", t_params, o_params)
    _matching("buffers", t_bufs, o_bufs)
    for key, t in t_params.items():
        o = o_params[key].detach().to(device=t.device, dtype=t.dtype)
        if m == 0.0:
            t.copy_(o)
        elif m != 1.0:
            t.lerp_(o, 1.0 - m)
    for key, t in t_bufs.items():
        t.copy_(o_bufs[key])


def cosine_momentum(
    step: int, total_steps: int, base_momentum: float = 0.996, final_momentum: float = 1.0
) -> float:
    r"""BYOL's cosine momentum schedule.

    .. math::
        m_k = m_{\mathrm{final}} - (m_{\mathrm{final}} - m_0)\,\frac{\cos(\pi k / K) + 1}{2}

    which for :math:`m_{\mathrm{final}} = 1` is BYOL's
    :math:`1 - (1 - m_0)(\cos(\pi k/K) + 1)/2`: :math:`m_0` at step 0, rising to
    :math:`m_{\mathrm{final}}` at step :math:`K` and held there for :math:`k > K`.

    Args:
        step: :math:`k \ge 0`, the current training step.
        total_steps: :math:`K \ge 1`.
        base_momentum, final_momentum: :math:`m_0, m_{\mathrm{final}} \in [0, 1]`.
    """
    if step < 0:
        raise ValueError(f"cosine_momentum: step must be >= 0, got {step}")
    if total_steps < 1:
        raise ValueError(f"cosine_momentum: total_steps must be >= 1, got {total_steps}")
    m0 = _check_momentum("cosine_momentum", base_momentum)
    m1 = _check_momentum("cosine_momentum", final_momentum)
    k = min(step, total_steps)
    return m1 - (m1 - m0) * (math.cos(math.pi * k / total_steps) + 1) / 2


class MomentumUpdater:
    r"""The per-step momentum update of a target network, constant or on a cosine schedule.

    Stateless between steps: the caller passes the global step, so resuming from a
    checkpoint needs nothing saved here. Call it from the task's per-step callback
    (after the optimizer step), never from ``forward``::

        updater = MomentumUpdater(0.996, total_steps=trainer_steps)   # BYOL
        updater.update(self.target, self.online, step)

    Args:
        base_momentum: :math:`m_0` (the constant momentum when ``total_steps`` is ``None``).
        total_steps: :math:`K` for :func:`cosine_momentum`, or ``None`` for a constant momentum.
        final_momentum: :math:`m_{\mathrm{final}}` of the schedule.
    """

    def __init__(
        self, base_momentum: float = 0.996, total_steps: int | None = None, final_momentum: float = 1.0
    ) -> None:
        self.base_momentum = _check_momentum("MomentumUpdater", base_momentum)
        self.final_momentum = _check_momentum("MomentumUpdater", final_momentum)
        if total_steps is not None and total_steps < 1:
            raise ValueError(f"MomentumUpdater: total_steps must be >= 1 or None, got {total_steps}")
        self.total_steps = total_steps

    def momentum(self, step: int) -> float:
        """The momentum used at ``step``."""
        if self.total_steps is None:
            return self.base_momentum
        return cosine_momentum(step, self.total_steps, self.base_momentum, self.final_momentum)

    def update(self, target: nn.Module, online: nn.Module, step: int = 0) -> float:
        """:func:`ema_update` with :meth:`momentum` at ``step``; returns the momentum used."""
        m = self.momentum(step)
        ema_update(target, online, m)
        return m

    __call__ = update

    def __repr__(self) -> str:
        return (
            f"MomentumUpdater(base_momentum={self.base_momentum}, total_steps={self.total_steps}, "
            f"final_momentum={self.final_momentum})"
        )
