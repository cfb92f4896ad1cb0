r"""Self-distillation with a centred, sharpened teacher: DINO (Caron et al. 2021, "Emerging
Properties in Self-Supervised Vision Transformers") and iBOT's masked-token term (Zhou et
al. 2022, "iBOT: Image BERT Pre-Training with Online Tokenizer").

Both losses are means over samples (and over the masked tokens of a sample), so under DDP
the per-rank loss is already right: DDP's gradient averaging turns it into the global mean.
Only the centre, a batch statistic, is shared between ranks (:func:`update_center`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from sslcore.contrast._checks import check_temperature, compute_dtype, no_autocast
from sslcore.contrast.distributed import global_count, world_size


def _check_views(name: str, what: str, views: Sequence[Tensor], dims: int) -> None:
    if not views:
        raise ValueError(f"{name}: {what} is empty; give at least one view")
    first = views[0]
    for i, v in enumerate(views):
        if v.dim() != dims or v.numel() == 0 or not v.dtype.is_floating_point:
            raise ValueError(
                f"{name}: {what}[{i}] must be a non-empty floating-point {dims}-D tensor, got "
                f"{v.dtype} {tuple(v.shape)}"
            )
        if v.shape != first.shape or v.device != first.device:
            raise ValueError(
                f"{name}: every view must have the shape and device of {what}[0] "
                f"({tuple(first.shape)} on {first.device}), got {tuple(v.shape)} on {v.device} for {what}[{i}]"
            )


def _check_center(name: str, center: Tensor, k: int, device: torch.device) -> None:
    if center.shape[-1] != k or center.numel() != k or center.device != device:
        raise ValueError(
            f"{name}: center must hold {k} values ([1, {k}]) on {device}, got {tuple(center.shape)} on {center.device}"
        )


def _teacher_probs(logits: Tensor, center: Tensor, temperature: float | Tensor, dtype: torch.dtype) -> Tensor:
    """``softmax((t - c) / tau_t)`` over the last dimension, without gradient."""
    with torch.no_grad():
        return F.softmax((logits.detach().to(dtype) - center.detach().to(dtype)) / temperature, dim=-1)


def dino_loss(
    student_logits: Sequence[Tensor],
    teacher_logits: Sequence[Tensor],
    center: Tensor,
    student_temperature: float | Tensor = 0.1,
    teacher_temperature: float | Tensor = 0.04,
) -> Tensor:
    r"""DINO's cross-entropy between a centred, sharpened teacher and the student, over
    every pair of different crops.

    With :math:`G` teacher views (the global crops) and :math:`V \ge G` student views whose
    first :math:`G` are the same crops, logits :math:`t_a, s_v \in \mathbb{R}^{N \times K}`
    and centre :math:`c \in \mathbb{R}^{1 \times K}`:

    .. math::
        P_t^{(a)} = \mathrm{softmax}\big((t_a - c) / \tau_t\big) \ \text{(no gradient)}, \qquad
        P_s^{(v)} = \mathrm{softmax}(s_v / \tau_s),

        \mathcal{L} = \frac{1}{|\mathcal{P}|} \sum_{(a, v) \in \mathcal{P}} \frac1N
            \sum_{n=1}^{N} -\sum_{k=1}^{K} P^{(a)}_{t,nk} \log P^{(v)}_{s,nk}, \qquad
        \mathcal{P} = \{(a, v) : a < G,\ v < V,\ v \ne a\}

    (a crop is never its own target), as the reference ``DINOLoss``. Centring (subtracting
    :math:`c`, the EMA of the teacher's batch mean, :func:`update_center`) keeps one
    prototype from dominating; the low :math:`\tau_t` sharpens, which keeps the teacher
    from the uniform distribution.

    Args:
        student_logits: ``V`` tensors ``[N, K]``: the student's outputs for every crop, the
            teacher's crops first, in the teacher's order.
        teacher_logits: ``G <= V`` tensors ``[N, K]``, not centred (the loss centres them);
            no gradient flows into them.
        center: ``[1, K]`` (or ``[K]``): the centre :math:`c`.
        student_temperature, teacher_temperature: :math:`\tau_s, \tau_t > 0` (the paper's
            0.1 and 0.04 -> 0.07).

    Returns:
        Scalar loss (fp32 accumulation for low-precision inputs).
    """
    name = "dino_loss"
    students, teachers = list(student_logits), list(teacher_logits)
    _check_views(name, "student_logits", students, 2)
    _check_views(name, "teacher_logits", teachers, 2)
    if teachers[0].shape != students[0].shape or teachers[0].device != students[0].device:
        raise ValueError(
            f"{name}: teacher and student views must have the same shape and device, got "
            f"{tuple(teachers[0].shape)} on {teachers[0].device} and {tuple(students[0].shape)} on {students[0].device}"
        )
    if len(teachers) > len(students) or len(students) < 2:
        raise ValueError(
            f"{name}: needs V >= 2 student views and G <= V teacher views (the student's first G "
            f"crops are the teacher's), got V={len(students)} and G={len(teachers)}"
        )
    _check_center(name, center, students[0].shape[1], students[0].device)
    check_temperature(name, student_temperature)
    check_temperature(name, teacher_temperature)
    dtype = compute_dtype(*students, *teachers)
    with no_autocast(students[0].device):
        targets = [_teacher_probs(t, center.reshape(1, -1), teacher_temperature, dtype) for t in teachers]
        log_p = [F.log_softmax(s.to(dtype) / student_temperature, dim=-1) for s in students]
        terms = [
            -(target * log_p[v]).sum(dim=-1).mean()
            for a, target in enumerate(targets)
            for v in range(len(log_p))
            if v != a
        ]
        return torch.stack(terms).mean()


def ibot_patch_loss(
    student_tokens: Sequence[Tensor],
    teacher_tokens: Sequence[Tensor],
    masks: Sequence[Tensor],
    center: Tensor,
    student_temperature: float | Tensor = 0.1,
    teacher_temperature: float | Tensor = 0.07,
) -> Tensor:
    r"""iBOT's masked-token self-distillation: on each view, the student's outputs for its
    masked tokens match the teacher's outputs for the same tokens of the unmasked view.

    With :math:`G` views, token logits :math:`s_g, t_g \in \mathbb{R}^{N \times P \times K}`
    (student on the masked view, teacher on the unmasked one), masks
    :math:`m_g \in \{0, 1\}^{N \times P}` and the token centre :math:`c`:

    .. math::
        \mathcal{L} = \frac1G \sum_{g=1}^{G} \frac1N \sum_{n=1}^{N}
            \frac{\sum_p m_{gnp}\, \mathrm{CE}\big(P_t(t_{gnp}), P_s(s_{gnp})\big)}
                 {\max\big(1, \sum_p m_{gnp}\big)}, \qquad
        \mathrm{CE}(q, p) = -\sum_k q_k \log p_k

    with :math:`P_t = \mathrm{softmax}((t - c)/\tau_t)` (no gradient) and
    :math:`P_s = \mathrm{softmax}(s/\tau_s)`, as the reference ``iBOTLoss``: a sample
    without masked tokens contributes 0 but still counts in the mean over :math:`N`.

    Args:
        student_tokens: ``G`` tensors ``[N, P, K]``.
        teacher_tokens: ``G`` tensors ``[N, P, K]``, not centred; no gradient flows into them.
        masks: ``G`` bool tensors ``[N, P]``, ``True`` = masked (the terms that count).
        center: ``K`` values (``[1, K]`` or ``[1, 1, K]``).
        student_temperature, teacher_temperature: :math:`\tau_s, \tau_t > 0`.

    Returns:
        Scalar loss (fp32 accumulation for low-precision inputs).
    """
    name = "ibot_patch_loss"
    students, teachers, hidden = list(student_tokens), list(teacher_tokens), list(masks)
    _check_views(name, "student_tokens", students, 3)
    _check_views(name, "teacher_tokens", teachers, 3)
    if len(teachers) != len(students) or len(hidden) != len(students):
        raise ValueError(
            f"{name}: needs one teacher view and one mask per student view, got {len(students)} student, "
            f"{len(teachers)} teacher views and {len(hidden)} masks"
        )
    shape, device = students[0].shape, students[0].device
    if teachers[0].shape != shape or teachers[0].device != device:
        raise ValueError(
            f"{name}: teacher and student tokens must have the same shape and device, got "
            f"{tuple(teachers[0].shape)} on {teachers[0].device} and {tuple(shape)} on {device}"
        )
    for i, m in enumerate(hidden):
        if m.dtype != torch.bool or m.shape != shape[:2] or m.device != device:
            raise ValueError(
                f"{name}: masks[{i}] must be a bool [N, P] = {list(shape[:2])} tensor on {device}, "
                f"got {m.dtype} {tuple(m.shape)} on {m.device}"
            )
    _check_center(name, center, shape[2], device)
    check_temperature(name, student_temperature)
    check_temperature(name, teacher_temperature)
    dtype = compute_dtype(*students, *teachers)
    with no_autocast(device):
        terms = []
        for s, t, m in zip(students, teachers, hidden):
            target = _teacher_probs(t, center.reshape(1, 1, -1), teacher_temperature, dtype)
            cross = -(target * F.log_softmax(s.to(dtype) / student_temperature, dim=-1)).sum(dim=-1)
            weights = m.to(dtype)
            terms.append(((cross * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)).mean())
        return torch.stack(terms).mean()


@torch.no_grad()
def update_center(
    center: Tensor,
    teacher_logits: Tensor | Sequence[Tensor],
    momentum: float = 0.9,
    distributed: bool | None = None,
) -> Tensor:
    r"""The next centre: the EMA of the teacher's batch mean (DINO's centring).

    .. math::
        c \leftarrow m\,c + (1 - m)\,\frac1B \sum_{b=1}^{B} t_b

    over every row :math:`t_b \in \mathbb{R}^K` of ``teacher_logits`` (all views, and all
    tokens for ``[N, P, K]`` token logits: iBOT's patch centre), and over every process's
    rows when ``torch.distributed`` runs more than one (an all-reduced sum and count, so
    every rank keeps the same centre; ranks may hold different numbers of rows).

    Args:
        center: ``[1, K]`` (any shape of ``K`` values): :math:`c`.
        teacher_logits: ``[..., K]`` tensors (e.g. ``G`` views ``[N, K]``).
        momentum: :math:`m \in [0, 1]` (the paper's 0.9).
        distributed: ``None`` (default) or ``True``: all-reduce whenever
            ``torch.distributed`` has more than one process (unlike the loss kernels' flag,
            since the centre is updated after the optimiser step, outside the DDP step,
            where every rank calls this); ``False``: this process's rows only.

    Returns:
        The new centre, ``center``'s shape and dtype (``center`` itself is not changed).
    """
    if not 0.0 <= float(momentum) <= 1.0:
        raise ValueError(f"update_center: momentum must be in [0, 1], got {momentum}")
    views = [teacher_logits] if isinstance(teacher_logits, Tensor) else list(teacher_logits)
    k = center.numel()
    if not views or any(v.shape[-1] != k for v in views):
        raise ValueError(
            f"update_center: teacher_logits must be [..., {k}] tensors (K = the centre's size), got "
            f"{[tuple(v.shape) for v in views]}"
        )
    rows = torch.cat([v.detach().reshape(-1, k) for v in views])
    dtype = compute_dtype(rows, center)
    total, n = rows.to(dtype).sum(dim=0), rows.shape[0]
    if distributed is not False and world_size() > 1:
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        batch_mean = total / global_count(n, rows.device).to(dtype)
    else:
        batch_mean = total / n
    batch_mean = batch_mean.reshape(center.shape)
    return (momentum * center.to(dtype) + (1 - momentum) * batch_mean).to(center.dtype)
