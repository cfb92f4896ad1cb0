"""InfoNCE (van den Oord et al. 2018) with in-batch, explicit or queued negatives."""

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
from sslcore.contrast.backends import half_dtype, kernel_rows, resolve_backend, row_logsumexp
from sslcore.contrast.distributed import gather_rows, global_count, share_loss, use_global


def info_nce(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None = None,
    *,
    temperature: float | Tensor,
    backend: str = "auto",
    distributed: bool | None = None,
) -> Tensor:
    r"""InfoNCE: classify each query's own key among negatives.

    With :math:`q, k` L2-normalised:

    .. math::
        \mathcal{L} = \frac{1}{N}\sum_i -\log
            \frac{\exp(q_i^\top k_i/\tau)}
                 {\exp(q_i^\top k_i/\tau) + \sum_{n \in \mathcal{N}_i} \exp(q_i^\top n/\tau)}

    Negatives :math:`\mathcal{N}_i`:

    - ``negatives=None``: the other keys of the batch, :math:`\{k_j\}_{j \ne i}`;
    - ``negatives`` of shape ``[K, d]``: a shared set, e.g. MoCo's queue (the batch's
      other keys are *not* added);
    - ``negatives`` of shape ``[N, K, d]``: explicit negatives per query.

    Args:
        query, key: ``[N, d]``; row ``i`` of ``key`` is the positive of query ``i``.
        negatives: ``None``, ``[K, d]`` or ``[N, K, d]``.
        temperature: :math:`\tau > 0`, float or scalar tensor; required, by keyword
            (each method picks its own: MoCo 0.07 / 0.2, SimCSE 0.05, ...).
        distributed: ``None`` (default): on when the trainer runs DDP. On: average over the queries of every rank; with ``negatives=None`` the
            keys of every rank are the negatives (the global batch). Loss and input
            gradients equal one process's over the concatenated batch.

    Returns:
        Scalar loss.
    """
    check_pair("info_nce", query, key, "query", "key")
    check_temperature("info_nce", temperature)
    backend = resolve_backend("info_nce", backend, query)
    if negatives is not None and negatives.device != query.device:
        raise ValueError(f"info_nce: negatives are on {negatives.device} but query is on {query.device}")
    with no_autocast(query.device):
        rows = _info_nce_rows(query, key, negatives, temperature, backend, use_global(distributed))
        if use_global(distributed):
            return share_loss(rows.sum() / global_count(len(rows), rows.device).to(rows.dtype))
        return rows.mean()


def _info_nce_rows(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None,
    temperature: float | Tensor,
    backend: str,
    distributed: bool,
) -> Tensor:
    """Per-query terms ``[N]``: log-partition minus positive logit."""
    inputs = [query, key] + ([] if negatives is None else [negatives])
    dtype, half = compute_dtype(*inputs), half_dtype(*inputs)
    qk, q = kernel_rows(F.normalize(query.to(dtype), dim=1), backend, half)
    kk, k = kernel_rows(F.normalize(key.to(dtype), dim=1), backend, half)
    n = q.shape[0]
    pos = (q * k).sum(dim=1) / temperature
    if negatives is None:
        keys = gather_rows(kk)[0] if distributed else kk
        check_has_negatives("info_nce", keys.shape[0], "query")
        return row_logsumexp(qk, keys, temperature, None, backend) - pos
    neg = F.normalize(negatives.to(dtype), dim=-1)
    if neg.dim() == 2 and neg.shape[1] == q.shape[1]:
        # log(e^pos + sum_K e^s): a shared queue streams over tiles
        neg = kernel_rows(neg, backend, half)[0]
        return torch.logaddexp(pos, row_logsumexp(qk, neg, temperature, None, backend)) - pos
    if neg.dim() == 3 and neg.shape[0] == n and neg.shape[2] == q.shape[1]:
        logits = torch.cat([pos[:, None], torch.einsum("nd,nkd->nk", q, neg) / temperature], dim=1)
        return torch.logsumexp(logits, dim=1) - pos
    raise ValueError(
        f"info_nce: negatives must be [K, {q.shape[1]}] or [{n}, K, {q.shape[1]}], got {tuple(negatives.shape)}"
    )
