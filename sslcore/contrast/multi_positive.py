"""Multi-positive contrast: supervised contrastive loss (Khosla et al. 2020, L_out)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_temperature, compute_dtype, no_autocast
from sslcore.contrast.backends import half_dtype, kernel_rows, resolve_backend, row_logsumexp, self_lse
from sslcore.contrast.distributed import gather_rows, global_count, share_loss, use_global


def multi_positive(
    z: Tensor,
    labels: Tensor,
    temperature: float | Tensor,
    backend: str = "auto",
    distributed: bool | None = None,
) -> Tensor:
    r"""Contrast each row with every other row of the same label.

    With :math:`u = \mathrm{normalize}(z)`, :math:`s_{ij} = u_i^\top u_j/\tau`,
    :math:`P(i) = \{j \ne i : y_j = y_i\}` and :math:`R` the rows with
    :math:`P(i) \ne \emptyset`:

    .. math::
        \mathcal{L} = \frac{1}{|R|}\sum_{i \in R}\Big[\log\sum_{j \ne i} e^{s_{ij}}
            - \frac{1}{|P(i)|}\sum_{p \in P(i)} s_{ip}\Big]

    Positives given by instance indices (all views of sample ``k`` share ``labels = k``)
    give SimCLR-style multi-view contrast; class labels give SupCon. The positive sums
    use per-label sums of ``u`` (O(C·d)), so no ``[M, M]`` mask is built.

    Args:
        z: ``[M, d]`` embeddings of all views.
        labels: ``[M]`` integer labels or instance indices.
        temperature: :math:`\tau > 0`; required.
        backend: ``"auto"``, ``"reference"`` or ``"tiled"``.
        distributed: ``None`` (default): on when the trainer runs DDP. On: positives and negatives from every rank (exact global loss and gradients).
    """
    if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"multi_positive: z must be a non-empty [M, d] tensor, got shape {tuple(z.shape)}")
    if labels.shape != (z.shape[0],):
        raise ValueError(f"multi_positive: labels must have shape [{z.shape[0]}], got {tuple(labels.shape)}")
    if labels.device != z.device:
        raise ValueError(f"multi_positive: labels are on {labels.device} but z is on {z.device}")
    if labels.dtype.is_floating_point:
        raise ValueError(f"multi_positive: labels must be integers, got {labels.dtype}")
    check_temperature("multi_positive", temperature)
    backend = resolve_backend("multi_positive", backend, z)
    if use_global(distributed):
        with no_autocast(z.device):
            return _multi_positive_global(z, labels, temperature, backend, half_dtype(z))
    _, inverse, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    num_pos = (counts[inverse] - 1).to(compute_dtype(z))
    rows = num_pos > 0
    if not rows.any():
        raise ValueError("multi_positive: no row has a positive (every label occurs once)")
    with no_autocast(z.device):
        u = F.normalize(z.to(compute_dtype(z)), dim=1)
        if backend == "reference":
            s = u @ u.T / temperature
            eye = torch.eye(len(u), dtype=torch.bool, device=u.device)
            lse = torch.logsumexp(s.masked_fill(eye, float("-inf")), dim=1)
            same = (inverse[:, None] == inverse[None, :]) & ~eye
            pos = (s * same).sum(1) / num_pos.clamp(min=1)
        else:
            uk, u = kernel_rows(u, backend, half_dtype(z))
            lse = self_lse(uk, temperature, backend)
            sums = torch.zeros(len(counts), u.shape[1], dtype=u.dtype, device=u.device).index_add(
                0, inverse, u
            )
            pos = (u * (sums[inverse] - u)).sum(1) / temperature / num_pos.clamp(min=1)
        return (lse - pos)[rows].mean()


def _multi_positive_global(
    z: Tensor, labels: Tensor, temperature: float | Tensor, backend: str, half: torch.dtype | None
) -> Tensor:
    """This rank's rows against the rows of every rank; positives from the global label sums."""
    uk, u = kernel_rows(F.normalize(z.to(compute_dtype(z)), dim=1), backend, half)
    keys_k, offset = gather_rows(uk)
    keys = keys_k.to(u.dtype)
    all_labels, _ = gather_rows(labels)
    _, inverse, counts = torch.unique(all_labels, return_inverse=True, return_counts=True)
    own = inverse[offset : offset + len(u)]
    num_pos = (counts[own] - 1).to(u.dtype)
    rows = num_pos > 0
    total = global_count(int(rows.sum()), u.device)
    if total.item() == 0:
        raise ValueError("multi_positive: no row has a positive (every label occurs once)")
    exclude = torch.arange(len(u), device=u.device) + offset
    lse = row_logsumexp(uk, keys_k, temperature, exclude, backend)
    sums = torch.zeros(len(counts), u.shape[1], dtype=u.dtype, device=u.device).index_add(0, inverse, keys)
    pos = (u * (sums[own] - u)).sum(1) / temperature / num_pos.clamp(min=1)
    return share_loss((lse - pos)[rows].sum() / total.to(u.dtype))
