"""Barlow Twins' redundancy-reduction objective (Zbontar et al. 2021)."""

from __future__ import annotations

import torch
from torch import Tensor

from sslcore.contrast._checks import check_min_batch, check_pair, compute_dtype, no_autocast
from sslcore.contrast.distributed import gather_rows, share_loss, use_global, world_size


def barlow_twins(
    z1: Tensor, z2: Tensor, lambda_offdiag: float = 5e-3, eps: float = 1e-5, distributed: bool | None = None
) -> Tensor:
    r"""Push the cross-correlation of two views' standardised embeddings to the identity.

    Each feature is standardised over the batch as by ``BatchNorm1d(affine=False)`` in
    training mode, :math:`\hat z_{bi} = (z_{bi} - \mu_i)/\sqrt{\sigma_i^2 + \epsilon}`
    (biased variance), and

    .. math::
        C_{ij} = \frac{1}{N}\sum_{b=1}^{N} \hat z^{(1)}_{bi}\,\hat z^{(2)}_{bj}, \qquad
        \mathcal{L} = \sum_i (1 - C_{ii})^2 + \lambda \sum_i \sum_{j \ne i} C_{ij}^2

    With ``eps=0``, :math:`C` is the matrix of the paper's per-feature correlation
    coefficients; the default ``eps`` is the reference code's (BatchNorm's) and keeps
    constant features finite. The loss is not averaged over features (as in the paper),
    so its scale grows with ``d``.

    Args:
        z1, z2: ``[N, d]`` projections of the two views, ``N >= 2``.
        lambda_offdiag: :math:`\lambda \ge 0`, weight of the redundancy-reduction term.
        eps: :math:`\epsilon \ge 0` added to the variance.
        distributed: ``None`` (default): on when the trainer runs DDP. On: batch statistics and :math:`C` over the rows of every rank.

    Returns:
        Scalar loss (fp32 accumulation for low-precision inputs). The ``[d, d]`` matrix
        :math:`C` is materialised.
    """
    check_pair("barlow_twins", z1, z2)
    if use_global(distributed):
        (z1, _), (z2, _) = gather_rows(z1), gather_rows(z2)
        return share_loss(barlow_twins(z1, z2, lambda_offdiag, eps, distributed=False) / world_size())
    check_min_batch("barlow_twins", z1.shape[0])
    if not lambda_offdiag >= 0:
        raise ValueError(f"barlow_twins: lambda_offdiag must be >= 0, got {lambda_offdiag}")
    if not eps >= 0:
        raise ValueError(f"barlow_twins: eps must be >= 0, got {eps}")
    dtype = compute_dtype(z1, z2)
    with no_autocast(z1.device):
        a, b = _standardise(z1.to(dtype), eps), _standardise(z2.to(dtype), eps)
        c = a.T @ b / a.shape[0]
        on_diag = (1 - torch.diagonal(c)).pow(2).sum()
        off_diag = c.masked_fill(torch.eye(c.shape[0], dtype=torch.bool, device=c.device), 0).pow(2).sum()
        return on_diag + lambda_offdiag * off_diag


def _standardise(z: Tensor, eps: float) -> Tensor:
    centred = z - z.mean(dim=0)
    return centred / torch.sqrt(centred.pow(2).mean(dim=0) + eps)
