"""VICReg: variance-invariance-covariance regularisation (Bardes et al. 2022)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_min_batch, check_pair, compute_dtype, no_autocast
from sslcore.contrast.distributed import gather_rows, share_loss, use_global, world_size


class VICRegTerms(NamedTuple):
    """The three unweighted VICReg terms, scalar tensors (with gradients; ``.detach()``
    or ``.item()`` them to log as metrics)."""

    invariance: Tensor
    variance: Tensor
    covariance: Tensor


def vicreg_terms(z1: Tensor, z2: Tensor, gamma: float = 1.0, eps: float = 1e-4) -> VICRegTerms:
    r"""VICReg's invariance, variance and covariance terms, unweighted.

    With :math:`\bar z = z - \tfrac{1}{N}\sum_b z_b` and the unbiased per-feature variance
    :math:`\mathrm{Var}(z_{:,j})`:

    .. math::
        s = \frac{1}{Nd}\sum_{b,j} (z^{(1)}_{bj} - z^{(2)}_{bj})^2, \qquad
        v = \frac{1}{2}\sum_{z \in \{z^{(1)}, z^{(2)}\}} \frac{1}{d}\sum_{j=1}^{d}
            \max\!\big(0, \gamma - \sqrt{\mathrm{Var}(z_{:,j}) + \epsilon}\big)

    .. math::
        c = \sum_{z \in \{z^{(1)}, z^{(2)}\}} \frac{1}{d}\sum_{i \ne j} C(z)_{ij}^2,
        \qquad C(z) = \frac{\bar z^\top \bar z}{N - 1}

    as in the reference code (the variance term averages the two views; the covariance
    term sums them).

    Args:
        z1, z2: ``[N, d]`` embeddings of the two views, ``N >= 2``.
        gamma: :math:`\gamma > 0`, target standard deviation.
        eps: :math:`\epsilon \ge 0` added to the variance.

    Returns:
        :class:`VICRegTerms` ``(invariance, variance, covariance)``, fp32 for
        low-precision inputs.
    """
    check_pair("vicreg", z1, z2)
    check_min_batch("vicreg", z1.shape[0], why="the batch variance and covariance")
    if not gamma > 0:
        raise ValueError(f"vicreg: gamma must be > 0, got {gamma}")
    if not eps >= 0:
        raise ValueError(f"vicreg: eps must be >= 0, got {eps}")
    dtype = compute_dtype(z1, z2)
    with no_autocast(z1.device):
        a, b = z1.to(dtype), z2.to(dtype)
        invariance = F.mse_loss(a, b)
        variance = 0.5 * (_variance_term(a, gamma, eps) + _variance_term(b, gamma, eps))
        covariance = _covariance_term(a) + _covariance_term(b)
        return VICRegTerms(invariance, variance, covariance)


def vicreg(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    gamma: float = 1.0,
    eps: float = 1e-4,
    distributed: bool | None = None,
) -> Tensor:
    r"""VICReg loss :math:`\mathcal{L} = \lambda s + \mu v + \nu c` (terms as in :func:`vicreg_terms`).

    Args:
        z1, z2: ``[N, d]`` embeddings of the two views, ``N >= 2``.
        sim_weight, var_weight, cov_weight: :math:`\lambda, \mu, \nu` (paper: 25, 25, 1).
        gamma, eps: see :func:`vicreg_terms`.
        distributed: ``None`` (default): on when the trainer runs DDP. On: all three terms over the rows of every rank.

    Returns:
        Scalar loss; call :func:`vicreg_terms` for the three terms as metrics.
    """
    if use_global(distributed):
        (z1, _), (z2, _) = gather_rows(z1), gather_rows(z2)
        loss = vicreg(z1, z2, sim_weight, var_weight, cov_weight, gamma, eps, distributed=False)
        return share_loss(loss / world_size())
    s, v, c = vicreg_terms(z1, z2, gamma=gamma, eps=eps)
    return sim_weight * s + var_weight * v + cov_weight * c


def _variance_term(z: Tensor, gamma: float, eps: float) -> Tensor:
    return F.relu(gamma - torch.sqrt(z.var(dim=0) + eps)).mean()


def _covariance_term(z: Tensor) -> Tensor:
    n, d = z.shape
    centred = z - z.mean(dim=0)
    cov = centred.T @ centred / (n - 1)
    off = cov.masked_fill(torch.eye(d, dtype=torch.bool, device=cov.device), 0)
    return off.pow(2).sum() / d
