"""Symmetric cross-view contrast (CLIP, Radford et al. 2021)."""

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
from sslcore.contrast.backends import cross_lse, half_dtype, kernel_rows, resolve_backend, row_logsumexp
from sslcore.contrast.distributed import gather_rows, global_count, share_loss, use_global


def cross_view(
    a: Tensor, b: Tensor, temperature: float | Tensor, backend: str = "auto", distributed: bool | None = None
) -> Tensor:
    r"""Symmetric InfoNCE between two views (or modalities) of N samples.

    With :math:`a, b` L2-normalised and :math:`s_{ij} = a_i^\top b_j / \tau`:

    .. math::
        \mathcal{L} = \frac{1}{2N}\sum_i \Big[
            \big(\log\textstyle\sum_j e^{s_{ij}} - s_{ii}\big) +
            \big(\log\textstyle\sum_j e^{s_{ji}} - s_{ii}\big)\Big]

    The tiled backend gets both log-sum-exps (rows and columns) in one pass.

    Args:
        a, b: ``[N, d]``; row ``i`` of ``a`` pairs with row ``i`` of ``b``.
        temperature: :math:`\tau > 0`, float or learnable scalar tensor (CLIP's logit scale is
            ``1/τ``); required.
        distributed: ``None`` (default): on when the trainer runs DDP. On: contrast against the pairs of every rank (exact global loss and gradients).
    """
    check_pair("cross_view", a, b, "a", "b")
    check_temperature("cross_view", temperature)
    backend = resolve_backend("cross_view", backend, a)
    with no_autocast(a.device):
        dtype, half = compute_dtype(a, b), half_dtype(a, b)
        ak, a = kernel_rows(F.normalize(a.to(dtype), dim=1), backend, half)
        bk, b = kernel_rows(F.normalize(b.to(dtype), dim=1), backend, half)
        pos = (a * b).sum(1) / temperature
        if use_global(distributed):
            keys_b, keys_a = gather_rows(bk)[0], gather_rows(ak)[0]
            check_has_negatives("cross_view", keys_a.shape[0], "a")
            row = row_logsumexp(ak, keys_b, temperature, None, backend)
            col = row_logsumexp(bk, keys_a, temperature, None, backend)
            total = global_count(len(pos), pos.device).to(pos.dtype)
            return share_loss(((row - pos).sum() + (col - pos).sum()) / (2 * total))
        check_has_negatives("cross_view", a.shape[0], "a")
        if backend == "reference":
            s = a @ b.T / temperature
            row, col = torch.logsumexp(s, dim=1), torch.logsumexp(s, dim=0)
        else:
            row, col = cross_lse(ak, bk, temperature, backend, columns=True)
        return 0.5 * ((row - pos).mean() + (col - pos).mean())
