"""SwAV's swapped prediction with Sinkhorn-Knopp assignments (Caron et al. 2020)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_temperature, compute_dtype, no_autocast
from sslcore.contrast.distributed import gather_rows, share_loss, use_global, world_size


def _check_scores(name: str, scores: Tensor, what: str = "scores") -> None:
    if scores.dim() != 2:
        raise ValueError(f"{name}: {what} must be 2-D [B, K], got shape {tuple(scores.shape)}")
    if scores.shape[0] == 0 or scores.shape[1] == 0:
        raise ValueError(f"{name}: {what} is empty (shape {tuple(scores.shape)})")
    if not scores.dtype.is_floating_point:
        raise ValueError(f"{name}: {what} must be floating point, got {scores.dtype}")


def _check_sinkhorn_args(name: str, epsilon: float, iterations: int) -> None:
    if not epsilon > 0:
        raise ValueError(f"{name}: epsilon must be > 0, got {epsilon}")
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 1:
        raise ValueError(f"{name}: iterations must be an int >= 1, got {iterations!r}")


@torch.no_grad()
def sinkhorn_knopp(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    r"""Soft equipartitioned assignment of B samples to K prototypes (no gradient).

    Starting from :math:`Q^{(0)} \propto \exp(S/\varepsilon)` (``scores`` :math:`S`),
    each iteration rescales the prototype marginals to :math:`1/K` and then the sample
    marginals to :math:`1/B`:

    .. math::
        Q_{bk} \leftarrow \frac{Q_{bk}}{K \sum_{b'} Q_{b'k}}, \qquad
        Q_{bk} \leftarrow \frac{Q_{bk}}{B \sum_{k'} Q_{bk'}}

    and the result is :math:`B\,Q`, so every row is a distribution over prototypes
    (rows sum to 1 exactly) and each prototype receives about :math:`B/K` samples in
    total (exactly in the limit of many iterations). This is the reference code's
    ``distributed_sinkhorn`` on one process, run in the log domain so that large
    ``scores / epsilon`` cannot overflow. For multi-process training pass the gathered
    scores of the global batch.

    Args:
        scores: ``[B, K]`` sample-prototype scores (SwAV: cosine similarities).
        epsilon: :math:`\varepsilon > 0`, entropic regularisation (smaller = sharper).
        iterations: number of Sinkhorn-Knopp iterations, ``>= 1``.

    Returns:
        ``[B, K]`` assignments ``Q`` (float32 for low-precision inputs, float64 kept),
        detached.
    """
    _check_scores("sinkhorn_knopp", scores)
    _check_sinkhorn_args("sinkhorn_knopp", epsilon, iterations)
    with no_autocast(scores.device):
        return _sinkhorn(scores.detach().to(compute_dtype(scores)), epsilon, iterations)


def _sinkhorn(scores: Tensor, epsilon: float, iterations: int) -> Tensor:
    b, k = scores.shape
    log_q = scores / epsilon  # the reference's global normalisation is absorbed by the first step
    for _ in range(iterations):
        log_q = log_q - torch.logsumexp(log_q, dim=0, keepdim=True) - math.log(k)
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - math.log(b)
    return torch.exp(log_q + math.log(b))


def swav_loss(
    scores_views: Sequence[Tensor],
    assign_views: Sequence[int] = (0, 1),
    temperature: float | Tensor = 0.1,
    epsilon: float = 0.05,
    iterations: int = 3,
    queue_scores: Sequence[Tensor | None] | None = None,
    distributed: bool | None = None,
) -> Tensor:
    r"""Swapped prediction: predict a view's Sinkhorn codes from every other view.

    With :math:`V` views (crops) of the same :math:`B` samples, prototype scores
    :math:`S^{(v)} \in \mathbb{R}^{B \times K}`, codes
    :math:`Q^{(a)} = \mathrm{sinkhorn\_knopp}(S^{(a)}, \varepsilon)` (no gradient) for
    each assigned view :math:`a \in \mathcal{A}` and
    :math:`P^{(v)} = \mathrm{softmax}(S^{(v)}/\tau)` row-wise:

    .. math::
        \mathcal{L} = \frac{1}{|\mathcal{A}|}\sum_{a \in \mathcal{A}}
            \frac{1}{V-1}\sum_{v \ne a} \frac{1}{B}\sum_{b=1}^{B}
            -\sum_{k=1}^{K} Q^{(a)}_{bk} \log P^{(v)}_{bk}

    as in the reference implementation (``crops_for_assign``, multi-crop: the small
    crops are extra views that are predicted from but never assigned).

    Args:
        scores_views: ``V >= 2`` tensors ``[B, K]``: the scores of each view against the
            (L2-normalised) prototypes, same shape and device.
        assign_views: indices of the views whose codes are computed (distinct, in range).
        temperature: :math:`\tau > 0` of the prediction softmax.
        epsilon, iterations: Sinkhorn-Knopp's :math:`\varepsilon` and iteration count.
            The defaults of these three are the SwAV paper's (0.1, 0.05, 3), the one
            method this loss serves.
        queue_scores: optional, one entry per assigned view: ``[Q, K]`` scores of queued
            features of earlier batches against the current prototypes (or ``None``).
            They are stacked above the batch for Sinkhorn-Knopp, and only the batch's
            ``B`` codes are used (SwAV's small-batch queue).
        distributed: ``None`` (default): on when the trainer runs DDP. On: Sinkhorn-Knopp and the average over the samples (and queues) of
            every rank, as the reference's ``distributed_sinkhorn``; exact global loss
            and gradients.

    Returns:
        Scalar loss (fp32 accumulation for low-precision inputs).
    """
    name = "swav_loss"
    if use_global(distributed):
        views = [gather_rows(v)[0] for v in scores_views]
        queues = (
            None if queue_scores is None else [q if q is None else gather_rows(q)[0] for q in queue_scores]
        )
        loss = swav_loss(views, assign_views, temperature, epsilon, iterations, queues, distributed=False)
        return share_loss(loss / world_size())
    views = list(scores_views)
    if len(views) < 2:
        raise ValueError(f"{name}: needs at least 2 views (V >= 2), got {len(views)}")
    for i, s in enumerate(views):
        _check_scores(name, s, f"scores_views[{i}]")
        if s.shape != views[0].shape:
            raise ValueError(
                f"{name}: all views must have the same shape [B, K], got {tuple(views[0].shape)} "
                f"for scores_views[0] and {tuple(s.shape)} for scores_views[{i}]"
            )
        if s.device != views[0].device:
            raise ValueError(
                f"{name}: scores_views[0] is on {views[0].device} but scores_views[{i}] is on {s.device}"
            )
    assign = list(assign_views)
    if (
        not assign
        or len(set(assign)) != len(assign)
        or any(
            isinstance(a, bool) or not isinstance(a, numbers.Integral) or not 0 <= a < len(views)
            for a in assign
        )
    ):
        raise ValueError(
            f"{name}: assign_views must be distinct view indices in [0, {len(views)}), got {assign_views!r}"
        )
    queues = [None] * len(assign) if queue_scores is None else list(queue_scores)
    if len(queues) != len(assign):
        raise ValueError(
            f"{name}: queue_scores needs one entry per assigned view ({len(assign)}), got {len(queues)}"
        )
    for i, qs in enumerate(queues):
        if qs is None:
            continue
        _check_scores(name, qs, f"queue_scores[{i}]")
        if qs.shape[1] != views[0].shape[1] or qs.device != views[0].device:
            raise ValueError(
                f"{name}: queue_scores[{i}] must be [Q, {views[0].shape[1]}] on {views[0].device}, "
                f"got {tuple(qs.shape)} on {qs.device}"
            )
    check_temperature(name, temperature)
    _check_sinkhorn_args(name, epsilon, iterations)

    dtype = compute_dtype(*views, *(q for q in queues if q is not None))
    b = views[0].shape[0]
    with no_autocast(views[0].device):
        log_p = [F.log_softmax(s.to(dtype) / temperature, dim=1) for s in views]
        loss = torch.zeros((), dtype=dtype, device=views[0].device)
        for a, qs in zip(assign, queues):
            with torch.no_grad():
                s = views[a].detach().to(dtype)
                if qs is not None:
                    s = torch.cat([qs.detach().to(dtype), s])
                codes = _sinkhorn(s, epsilon, iterations)[-b:]
            cross = [-(codes * log_p[v]).sum(dim=1).mean() for v in range(len(views)) if v != a]
            loss = loss + torch.stack(cross).sum() / (len(views) - 1)
        return loss / len(assign)
