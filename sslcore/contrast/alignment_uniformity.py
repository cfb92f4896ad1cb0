"""Alignment and uniformity on the hypersphere (Wang & Isola 2020), as losses and metrics."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_pair, compute_dtype, no_autocast
from sslcore.contrast.distributed import gather_rows, global_count, share_loss, use_global, world_size


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2.0, distributed: bool | None = None) -> Tensor:
    r"""Expected distance between the normalised embeddings of positive pairs.

    With :math:`f(x) = z_1/\lVert z_1\rVert` and :math:`f(y) = z_2/\lVert z_2\rVert` row-wise:

    .. math::
        \mathcal{L}_{\mathrm{align}} = \frac{1}{N}\sum_{i=1}^{N}
            \lVert f(x_i) - f(y_i) \rVert_2^{\alpha}

    0 for identical directions, at most :math:`2^\alpha`. As a metric, call it under
    ``torch.no_grad()`` (lower is better).

    Args:
        z1, z2: ``[N, d]``; row ``i`` of each is a positive pair.
        alpha: :math:`\alpha > 0` (paper: 2).
        distributed: ``None`` (default): on when the trainer runs DDP. On: average over the rows of every rank.

    Returns:
        Scalar (fp32 accumulation for low-precision inputs).
    """
    check_pair("alignment", z1, z2)
    if not alpha > 0:
        raise ValueError(f"alignment: alpha must be > 0, got {alpha}")
    dtype = compute_dtype(z1, z2)
    with no_autocast(z1.device):
        diff = F.normalize(z1.to(dtype), dim=1) - F.normalize(z2.to(dtype), dim=1)
        rows = diff.pow(2).sum(dim=1) if alpha == 2 else torch.linalg.vector_norm(diff, dim=1).pow(alpha)
        if use_global(distributed):
            return share_loss(rows.sum() / global_count(len(rows), rows.device).to(dtype))
        return rows.mean()


def uniformity(z: Tensor, t: float = 2.0, distributed: bool | None = None) -> Tensor:
    r"""Log of the average Gaussian potential between distinct normalised embeddings.

    With :math:`f(x) = z/\lVert z\rVert` row-wise, over the :math:`N(N-1)/2` pairs
    :math:`i < j` (``torch.pdist``):

    .. math::
        \mathcal{L}_{\mathrm{uniform}} = \log \frac{2}{N(N-1)}\sum_{i<j}
            e^{-t\,\lVert f(x_i) - f(x_j)\rVert_2^2}

    In :math:`[-4t, 0]`: 0 when all rows collapse to one direction, lower when they are
    spread over the sphere. Computed as a log-sum-exp. As a metric, call it under
    ``torch.no_grad()`` (lower is better).

    Args:
        z: ``[N, d]`` embeddings, ``N >= 2``.
        t: :math:`t > 0` (paper: 2).
        distributed: ``None`` (default): on when the trainer runs DDP. On: over the pairs of the rows of every rank (the rows are gathered).

    Returns:
        Scalar (fp32 accumulation for low-precision inputs).
    """
    if use_global(distributed):
        gathered, _ = gather_rows(z)
        return share_loss(uniformity(gathered, t, distributed=False) / world_size())
    if z.dim() != 2:
        raise ValueError(f"uniformity: z must be 2-D [N, d], got shape {tuple(z.shape)}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"uniformity: z is empty (shape {tuple(z.shape)})")
    if z.shape[0] < 2:
        raise ValueError(f"uniformity: needs at least 2 samples (N >= 2) to form a pair, got N={z.shape[0]}")
    if not t > 0:
        raise ValueError(f"uniformity: t must be > 0, got {t}")
    with no_autocast(z.device):
        u = F.normalize(z.to(compute_dtype(z)), dim=1)
        sq = torch.pdist(u, p=2).pow(2)
        return torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel())
