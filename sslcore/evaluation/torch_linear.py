r"""Multinomial logistic regression in torch: the linear probe's model on any device.

The same model as :func:`sslcore.evaluation.linear.linear_probe`'s scikit-learn pipeline
(``StandardScaler`` then ``LogisticRegression(solver="lbfgs")``), so the same :math:`C`
means the same model. Features are standardised with the fitting rows' statistics,
:math:`\hat x = (x - \mu) / \sigma` (population :math:`\sigma`; a constant feature keeps
:math:`\sigma = 1`), and the weights minimise, as scikit-learn 1.x scales it
(``LinearModelLoss`` with ``l2_reg_strength = 1 / (C n)``),

.. math::
    f(W, b) = \frac{1}{n} \sum_{i=1}^{n} \mathrm{CE}(W \hat x_i + b,\, y_i)
              + \frac{1}{2 C n} \lVert W \rVert_F^2
            = \frac{1}{C n} \Big( \tfrac{1}{2} \lVert W \rVert_F^2 + C \sum_i \mathrm{CE}_i \Big),

the intercept :math:`b` unpenalised. With :math:`K \ge 3` classes :math:`W` is ``[K, d]``
(a softmax over all :math:`K` rows); with two classes it is ``[1, d]`` and the logits are
:math:`[0,\, w^\top \hat x + b]`: scikit-learn's binomial model (a two-row softmax would
penalise half the weight difference and so act as a doubled :math:`C`).

The solver is full-batch :class:`torch.optim.LBFGS` with a strong Wolfe line search and
10 correction pairs (scipy's L-BFGS-B default), started from zero, stopping when
:math:`\max |\nabla f| \le` ``tol`` (scikit-learn's ``tol``, scipy's ``gtol``) or after
``max_iter`` iterations, or when the loss changes by less than the float epsilon of its
dtype in one iteration (scipy's relative ``ftol``, 64 float64 epsilons, is below float32's
resolution). It has no randomness, and every tensor is made on the device of
the inputs (none on torch's default device), so it runs on the CPU, CUDA or any other
backend; float32 by default. On CUDA the products are full fp32 as long as TF32 stays off
for torch's matmuls (torch's default): TF32's 10-bit mantissa would leave the gradient too
coarse for ``tol``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

#: correction pairs kept by L-BFGS (scipy's ``maxcor`` default, which scikit-learn uses)
HISTORY = 10
#: most loss evaluations per fit (scipy's ``maxfun`` default)
MAX_EVAL = 15_000


@dataclass(frozen=True)
class Standardiser:
    """``StandardScaler``: ``mean`` and ``scale`` (both ``[d]``) of the fitting rows."""

    mean: Tensor
    scale: Tensor

    @classmethod
    def fit(cls, X: Tensor) -> Standardiser:
        """Statistics of ``X`` ``[n, d]``; a feature equal on every row gets scale 1."""
        mean = X.mean(0)
        std = X.std(0, correction=0)
        constant = X.amax(0) == X.amin(0)
        return cls(mean, torch.where(constant, torch.ones_like(std), std))

    def __call__(self, X: Tensor) -> Tensor:
        """``[n, d]`` standardised rows."""
        return (X - self.mean) / self.scale


@dataclass(frozen=True)
class LogisticModel:
    """A fitted probe: ``classes`` ``[K]`` (sorted labels), ``weight`` ``[K, d]`` (``[1, d]``
    for two classes), ``bias`` like ``weight[:, 0]``; ``n_iter`` L-BFGS iterations."""

    scaler: Standardiser
    classes: Tensor
    weight: Tensor
    bias: Tensor
    n_iter: int

    def logits(self, X: Tensor) -> Tensor:
        """``[n, K]`` class scores of raw rows ``X`` ``[n, d]``."""
        return _logits(self.scaler(X), self.weight, self.bias)

    def predict(self, X: Tensor) -> Tensor:
        """``[n]`` labels (the first of tied classes, as scikit-learn)."""
        return self.classes[self.logits(X).argmax(1)]

    def score(self, X: Tensor, y: Tensor) -> float:
        """Accuracy on ``X`` ``[n, d]``, ``y`` ``[n]`` (a label unseen in fitting is never predicted)."""
        return int((self.predict(X) == y).sum()) / len(y)


def _logits(X: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    z = torch.addmm(bias, X, weight.T)
    return torch.cat([torch.zeros_like(z), z], 1) if weight.shape[0] == 1 else z


def fit_logistic(X: Tensor, y: Tensor, C: float, max_iter: int = 1000, tol: float = 1e-4) -> LogisticModel:
    """Fit the probe on ``X`` ``[n, d]`` (floating point) and integer labels ``y`` ``[n]``
    (any values, at least two distinct), both on one device; see the module docstring."""
    scaler = Standardiser.fit(X)
    Xs = scaler(X)
    classes, target = torch.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"the fitting rows hold a single class ({classes.tolist()}): need at least two")
    rows = 1 if len(classes) == 2 else len(classes)
    weight = Xs.new_zeros(rows, Xs.shape[1], requires_grad=True)
    bias = Xs.new_zeros(rows, requires_grad=True)
    n_iter = _minimise([weight, bias], _objective(Xs, target, weight, bias, C), max_iter, tol)
    return LogisticModel(scaler, classes, weight.detach(), bias.detach(), n_iter)


def _objective(X: Tensor, target: Tensor, weight: Tensor, bias: Tensor, C: float):
    """``f(W, b)`` of the module docstring, as a closure over the fitting rows."""
    penalty = 1.0 / (2.0 * C * len(target))

    def f() -> Tensor:
        z = torch.addmm(bias, X, weight.T)
        if weight.shape[0] == 1:
            ce = F.binary_cross_entropy_with_logits(z[:, 0], target.to(z.dtype))
        else:
            ce = F.cross_entropy(z, target)
        return ce + penalty * weight.square().sum()

    return f


def _minimise(params: list[Tensor], f, max_iter: int, tol: float) -> int:
    """Run L-BFGS on ``f()`` over ``params`` in place; the number of iterations it took."""
    optimiser = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        max_eval=MAX_EVAL,
        tolerance_grad=tol,
        tolerance_change=torch.finfo(params[0].dtype).eps,
        history_size=HISTORY,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = f()
        loss.backward()
        return loss

    optimiser.step(closure)
    return int(optimiser.state[params[0]].get("n_iter", 0))
