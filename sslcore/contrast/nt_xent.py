"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import (
    check_has_negatives,
    check_pair,
    check_temperature,
    compute_dtype,
    no_autocast,
)
from sslcore.contrast.backends import half_dtype, kernel_rows, resolve_backend, row_logsumexp, self_lse
from sslcore.contrast.distributed import gather_rows, share_loss, use_global


def nt_xent(
    z1: Tensor,
    z2: Tensor,
    temperature: float | Tensor,
    backend: str = "auto",
    distributed: bool | None = None,
) -> Tensor:
    r"""NT-Xent over the 2N views of N samples.

    With :math:`u = \mathrm{normalize}([z_1; z_2]) \in \mathbb{R}^{2N \times d}`,
    :math:`s_{ij} = u_i^\top u_j / \tau` and :math:`p(i)` the other view of sample
    :math:`i`:

    .. math::
        \mathcal{L} = \frac{1}{2N} \sum_{i=1}^{2N}
            -\log \frac{\exp(s_{i,p(i)})}{\sum_{j \ne i} \exp(s_{ij})}

    The self-similarity :math:`s_{ii}` is excluded from the denominator.

    Args:
        z1, z2: ``[N, d]`` projections of the two views; row ``k`` of each is sample ``k``.
        temperature: :math:`\tau > 0`, a float or a scalar tensor (learnable); required,
            as in every kernel used by methods that each pick their own :math:`\tau`.
        backend: ``"auto"``, ``"reference"`` (materialised ``[2N, 2N]`` logits),
            ``"tiled"`` (streamed tiles, O(N·d) memory), ``"triton"`` or ``"flex"`` (fused
            GPU kernels); see :mod:`sslcore.contrast.backends`.

        distributed: ``None`` (default): on when the trainer runs DDP. On: contrast against the views of every rank (the global batch); the
            loss and input gradients equal those of one process over the concatenated
            batch (see :mod:`sslcore.contrast.distributed`).

    Returns:
        Scalar loss (fp32 accumulation for low-precision inputs).
    """
    check_pair("nt_xent", z1, z2)
    check_temperature("nt_xent", temperature)
    backend = resolve_backend("nt_xent", backend, z1)
    n = z1.shape[0]
    with no_autocast(z1.device):
        z = F.normalize(torch.cat([z1, z2]).to(compute_dtype(z1, z2)), dim=1)
        if use_global(distributed):
            return _nt_xent_global(z, n, temperature, backend, half_dtype(z1))
        check_has_negatives("nt_xent", n)
        if backend == "reference":
            logits = z @ z.T / temperature
            logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
            targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
            return F.cross_entropy(logits, targets)
        zk, z = kernel_rows(z, backend, half_dtype(z1))
        positive = (z * z.roll(n, dims=0)).sum(1) / temperature  # row i against its other view
        return (self_lse(zk, temperature, backend) - positive).mean()


def _nt_xent_global(
    z: Tensor, n: int, temperature: float | Tensor, backend: str, half: torch.dtype | None
) -> Tensor:
    """This rank's ``2n`` rows against the ``2N`` rows of all ranks, self excluded."""
    zk, z = kernel_rows(z, backend, half)
    first, offset = gather_rows(zk[:n])
    second, _ = gather_rows(zk[n:])
    total = first.shape[0]
    check_has_negatives("nt_xent", total)
    own = torch.arange(n, device=z.device) + offset
    lse = row_logsumexp(zk, torch.cat([first, second]), temperature, torch.cat([own, own + total]), backend)
    positive = (z * z.roll(n, dims=0)).sum(1) / temperature
    return share_loss((lse - positive).sum() / (2 * total))
