r"""Linear probe trained by Adam and early-stopped on the validation rows.

The probe of most graph self-supervised learning code (PyGCL's ``LREvaluator``, GraphMAE's
``linear_probing_for_transductive_node_classiifcation``): a linear layer on the frozen,
unstandardised embeddings, trained full-batch by Adam with L2 weight decay
:math:`\lambda` on the fitting rows,

.. math::
    \min_{W,b}\; \frac{1}{n} \sum_{i=1}^{n} \mathrm{CE}(W x_i + b,\, y_i)
    \quad (\text{Adam's gradient also gets } \lambda W \text{ and } \lambda b),

and reported at the epoch of best validation accuracy (the latest such epoch on ties, as
the references do): the test accuracy of that epoch's weights. It differs from the core
``linear`` protocol (:func:`sslcore.evaluation.linear.linear_probe`: standardised
features, logistic regression solved to convergence, :math:`C` chosen on validation)
in its regularisation, which is the early stopping and the weight decay; papers that use
it (GraphMAE on Cora: ``lr=0.01, weight_decay=1e-4, epochs=300``) report numbers a
converged probe need not reproduce.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
import torch
import torch.nn.functional as F
from annotated_types import Ge, Gt

from sslcore.evaluation.linear import Array, ProbeResult, as_numpy, check_probe_inputs, probe_device
from sslcore.evaluation.splits import selection_split

PROTOCOL = "linear_adam"


def adam_linear_probe(
    X: Array,
    y: Array,
    splits: dict[str, np.ndarray] | None,
    lr: Annotated[float, Gt(0)] = 0.01,
    weight_decay: Annotated[float, Ge(0)] = 1e-4,
    epochs: Annotated[int, Ge(1)] = 300,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> ProbeResult:
    """Train ``[K, d]`` weights for ``epochs`` full-batch Adam steps on the training rows
    (or, without a ``"val"`` split, on 90 % of them, the other 10 % selecting the epoch),
    starting from :class:`torch.nn.Linear`'s initialisation drawn with ``seed``; report the
    test accuracy at the epoch of best validation accuracy (``selected["epoch"]``).

    Args:
        X: ``[num_rows, d]`` embeddings (numpy or torch).
        y: ``[num_rows]`` integer labels (numpy or torch).
        splits: ``train`` / ``test`` (and ``val``) row indices; cross-validation
            (``None``) is not supported: there is no validation part to stop on.
        device: where to train; ``None``: where ``X`` is (the CPU for numpy).
    """
    if splits is None:
        raise ValueError(
            f"{PROTOCOL} stops on validation rows, but this evaluation set has no train / test "
            "splits (it is cross-validated); use the 'linear' protocol for it"
        )
    check_probe_inputs(X, y, splits, PROTOCOL)
    y_np = as_numpy(y).astype(np.int64)
    fit, select, test = selection_split(y_np, splits, seed)
    where = probe_device(X, device)
    X_t = torch.as_tensor(X, dtype=torch.float32, device=where)
    y_t = torch.as_tensor(y_np, device=where)
    (X_fit, y_fit), *scored = [  # gathered once: the fitting rows, then the validation and test rows
        (X_t[index], y_t[index]) for index in (torch.as_tensor(i, device=where) for i in (fit, select, test))
    ]
    weight, bias = _init_linear(X_t.shape[1], int(y_np.max()) + 1, seed, where)
    optimizer = torch.optim.Adam([weight, bias], lr=lr, weight_decay=weight_decay)
    # validation and test accuracy of every epoch, kept on the device: one host sync at the end
    accuracy = torch.empty(epochs, 2, device=where)
    for epoch in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(X_fit @ weight.T + bias, y_fit).backward()
        optimizer.step()
        with torch.no_grad():
            for column, (X_rows, y_rows) in enumerate(scored):
                accuracy[epoch, column] = ((X_rows @ weight.T + bias).argmax(1) == y_rows).float().mean()
    val, test_acc = accuracy.cpu().double().unbind(1)
    best = epochs - 1 - int(val.flip(0).argmax())  # the latest epoch of best validation accuracy
    return ProbeResult(
        PROTOCOL,
        float(test_acc[best]),
        float(val[best]),
        {"epoch": float(best + 1)},
        num_train=len(fit),
        num_test=len(test),
    )


def _init_linear(
    in_dim: int, classes: int, seed: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """``nn.Linear``'s default initialisation, :math:`U(-1/\\sqrt{d}, 1/\\sqrt{d})`, from ``seed``."""
    generator = torch.Generator("cpu").manual_seed(seed)  # drawn on the CPU on every device: same weights
    bound = 1 / math.sqrt(in_dim)
    weight = torch.empty(classes, in_dim, device="cpu").uniform_(-bound, bound, generator=generator)
    bias = torch.empty(classes, device="cpu").uniform_(-bound, bound, generator=generator)
    return weight.to(device).requires_grad_(), bias.to(device).requires_grad_()
