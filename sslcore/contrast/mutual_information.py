"""Mutual-information estimators on critic scores: Jensen-Shannon (Hjelm et al. 2019)
and the binary cross-entropy of DGI (Veličković et al. 2019), as used by InfoGraph
(Sun et al. 2020)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import compute_dtype, no_autocast
from sslcore.contrast.distributed import global_count, share_loss, use_global


def _check_scores(name: str, pos_scores: Tensor, neg_scores: Tensor) -> None:
    for t, n in ((pos_scores, "pos_scores"), (neg_scores, "neg_scores")):
        if t.numel() == 0:
            raise ValueError(f"{name}: {n} is empty (shape {tuple(t.shape)})")
        if not t.dtype.is_floating_point:
            raise ValueError(f"{name}: {n} must be floating point, got {t.dtype}")
    if pos_scores.device != neg_scores.device:
        raise ValueError(
            f"{name}: pos_scores is on {pos_scores.device} but neg_scores is on {neg_scores.device}"
        )


def jsd_mi(pos_scores: Tensor, neg_scores: Tensor, distributed: bool | None = None) -> Tensor:
    r"""Negated Jensen-Shannon mutual-information estimate, as a loss.

    For critic scores :math:`T` of pairs drawn from the joint :math:`P` (positives) and
    from the product of marginals :math:`N` (negatives), the estimator of Deep InfoMax
    is :math:`\hat I_{\mathrm{JSD}} = \mathbb{E}_P[-\mathrm{sp}(-T)] - \mathbb{E}_N[\mathrm{sp}(T)]`
    with :math:`\mathrm{sp}(x) = \log(1 + e^x)`, and this returns

    .. math::
        \mathcal{L} = -\hat I_{\mathrm{JSD}} =
            \frac{1}{|P|}\sum_{p} \mathrm{sp}(-T_p) + \frac{1}{|N|}\sum_{n} \mathrm{sp}(T_n)

    (InfoGraph's code adds the constant :math:`-2\log 2`; gradients are the same).
    The two expectations are averaged separately, so ``pos_scores`` and ``neg_scores``
    may hold different numbers of scores.

    Args:
        pos_scores: ``[*]`` scores of positive pairs (any shape, non-empty).
        neg_scores: ``[*]`` scores of negative pairs (any shape, non-empty).
        distributed: ``None`` (default): on when the trainer runs DDP. On: both expectations over the scores of every rank.

    Returns:
        Scalar loss :math:`\ge 0` (fp32 accumulation for low-precision inputs).
    """
    _check_scores("jsd_mi", pos_scores, neg_scores)
    dtype = compute_dtype(pos_scores, neg_scores)
    with no_autocast(pos_scores.device):
        pos, neg = F.softplus(-pos_scores.to(dtype)), F.softplus(neg_scores.to(dtype))
        if use_global(distributed):
            n_pos, n_neg = (global_count(t.numel(), t.device).to(dtype) for t in (pos, neg))
            return share_loss(pos.sum() / n_pos + neg.sum() / n_neg)
        return pos.mean() + neg.mean()


def bce_mi(pos_scores: Tensor, neg_scores: Tensor, distributed: bool | None = None) -> Tensor:
    r"""DGI's discriminator loss: binary cross-entropy with logits, positives labelled 1
    and negatives 0, averaged over all scores.

    .. math::
        \mathcal{L} = \frac{1}{|P| + |N|}\Big(\sum_{p} \mathrm{sp}(-T_p)
            + \sum_{n} \mathrm{sp}(T_n)\Big)

    It equals ``BCEWithLogitsLoss()(cat([pos, neg]), cat([ones, zeros]))`` and, when
    :math:`|P| = |N|` (DGI: one corrupted graph per graph), half of :func:`jsd_mi`.

    Args:
        pos_scores: ``[*]`` discriminator logits of positive (real) pairs, non-empty.
        neg_scores: ``[*]`` logits of negative (corrupted) pairs, non-empty.
        distributed: ``None`` (default): on when the trainer runs DDP. On: average over the scores of every rank.

    Returns:
        Scalar loss :math:`\ge 0` (fp32 accumulation for low-precision inputs).
    """
    _check_scores("bce_mi", pos_scores, neg_scores)
    dtype = compute_dtype(pos_scores, neg_scores)
    with no_autocast(pos_scores.device):
        pos, neg = pos_scores.to(dtype).reshape(-1), neg_scores.to(dtype).reshape(-1)
        total = F.softplus(-pos).sum() + F.softplus(neg).sum()
        if use_global(distributed):
            return share_loss(total / global_count(pos.numel() + neg.numel(), total.device).to(dtype))
        return total / (pos.numel() + neg.numel())
