r"""LARS: SGD with momentum and a layer-wise trust ratio (You et al. 2017, "Large Batch
Training of Convolutional Networks"), the optimiser of the large-batch SimCLR, BYOL and
Barlow Twins recipes, written the way solo-learn and lightly implement it.

For a parameter :math:`w` with gradient :math:`g`, in a group with learning rate
:math:`\eta_{lr}`, momentum :math:`\mu`, weight decay :math:`\lambda` and trust
coefficient :math:`\eta`:

.. math::
    u = \rho\,(g + \lambda w), \qquad
    \rho = \frac{\eta\,\lVert w \rVert}{\lVert g \rVert + \lambda \lVert w \rVert}

(:math:`u = g` when :math:`\lVert w \rVert = 0` or :math:`\lVert g \rVert = 0`), then
SGD with momentum: :math:`b \leftarrow \mu b + u`, :math:`w \leftarrow w - \eta_{lr} b`
(Nesterov: :math:`w \leftarrow w - \eta_{lr} (u + \mu b)`). Biases and normalisation
parameters (``p.dim() <= 1``) and every parameter of a group with ``lars_exclude=True``
(or ``exclude=True``) are *excluded*: :math:`u = g`, no weight decay and no trust ratio --
plain SGD with momentum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor


class LARS(torch.optim.Optimizer):
    r"""Layer-wise Adaptive Rate Scaling; the update is in the module docstring.

    Args:
        params: parameters or parameter groups; a group may set ``lars_exclude=True``
            (alias ``exclude``) to train its parameters with plain SGD with momentum.
        lr: the learning rate :math:`\eta_{lr}`.
        momentum: :math:`\mu`.
        weight_decay: :math:`\lambda`, applied (inside the trust ratio) to adapted
            parameters only.
        eta: the trust coefficient :math:`\eta`.
        nesterov: Nesterov momentum.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        eta: float = 0.001,
        nesterov: bool = False,
    ):
        if not lr >= 0:
            raise ValueError(f"LARS: lr must be >= 0, got {lr}")
        if not momentum >= 0:
            raise ValueError(f"LARS: momentum must be >= 0, got {momentum}")
        if not weight_decay >= 0:
            raise ValueError(f"LARS: weight_decay must be >= 0, got {weight_decay}")
        if not eta > 0:
            raise ValueError(f"LARS: eta (the trust coefficient) must be > 0, got {eta}")
        if nesterov and momentum == 0:
            raise ValueError("LARS: nesterov needs a momentum > 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            eta=eta,
            nesterov=nesterov,
            lars_exclude=False,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One update of every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            excluded = bool(group["lars_exclude"] or group.get("exclude", False))
            wd, eta, momentum = group["weight_decay"], group["eta"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad
                if not excluded and p.dim() > 1:
                    update = _trust_scaled(p, update, wd, eta)
                if momentum:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = buf = update.detach().clone()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_(update)
                    update = update.add(buf, alpha=momentum) if group["nesterov"] else buf
                p.add_(update, alpha=-group["lr"])
        return loss


def _trust_scaled(w: Tensor, g: Tensor, weight_decay: float, eta: float) -> Tensor:
    """``rho * (g + weight_decay * w)``, or ``g`` when ``||w||`` or ``||g||`` is 0 (no host sync)."""
    w_norm, g_norm = torch.linalg.vector_norm(w), torch.linalg.vector_norm(g)
    adapt = (w_norm > 0) & (g_norm > 0)
    rho = eta * w_norm / (g_norm + weight_decay * w_norm)  # inf / nan only where adapt is False
    return torch.where(adapt, (g + weight_decay * w) * rho, g)
