r"""Exact contrast losses over the global batch of a ``torch.distributed`` job.

Every distributed kernel follows one rule. Rank :math:`r` computes a *share*
:math:`L_r` of the global loss, :math:`L = \sum_r L_r` (its own rows' terms against the
gathered global batch, or :math:`L/W` for losses of global batch statistics), and
returns :func:`share_loss`\ :math:`(L_r)`, whose value is :math:`L` on every rank and whose
gradient is that of :math:`L_r`. Rows are gathered with :func:`gather_rows`, whose
backward all-reduces (sums) the incoming gradients and returns this rank's slice, i.e.
:math:`\sum_s \partial L_s / \partial x_r`. Together the gradient that reaches rank
:math:`r`'s inputs is exactly :math:`\partial L / \partial x_r`, the single-process
gradient over the concatenated batch. (Gathering without that all-reduce, or
all-reducing a loss every rank computed in full, is off by the world size — the bug
behind several published implementations.)

Under DDP, which averages parameter gradients over the :math:`W` ranks, the loss must be
multiplied by :math:`W` to train exactly as one process on the global batch would. The
trainer runs every DDP step inside :func:`ddp_step`; there a kernel called with
``distributed=None`` (the default) contrasts over the global batch and
:func:`share_loss` scales its gradient by :math:`W`. A loss that mixes such a kernel with a
plain local mean (which DDP's averaging already turns into the global mean) is then also
exact. Outside :func:`ddp_step` (evaluation, user code) ``None`` means local.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    """Number of processes, 1 when torch.distributed is not initialised."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


_DDP_STEP = False


@contextmanager
def ddp_step(enabled: bool = True) -> Iterator[None]:
    """Inside: kernels with ``distributed=None`` use the global batch, and :func:`share_loss`
    scales its gradient by the world size (DDP averages gradients over ranks)."""
    global _DDP_STEP
    previous, _DDP_STEP = _DDP_STEP, enabled
    try:
        yield
    finally:
        _DDP_STEP = previous


def use_global(distributed: bool | None) -> bool:
    """Whether a kernel contrasts over the global batch: ``distributed`` if given, else
    whether a DDP step is running (:func:`ddp_step`); never without a process group of
    more than one rank."""
    flag = _DDP_STEP if distributed is None else distributed
    return bool(flag) and world_size() > 1


def _sizes(n: int, device: torch.device) -> list[int]:
    """Every rank's number of rows."""
    size = torch.tensor([n], device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def _all_gather_padded(x: Tensor, counts: list[int]) -> list[Tensor]:
    """All-gather tensors whose first dimension differs between ranks (``counts``)."""
    padded = x.new_zeros((max(counts), *x.shape[1:]))
    padded[: x.shape[0]] = x
    out = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(out, padded)
    return [t[:n] for t, n in zip(out, counts)]


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, counts: tuple[int, ...]) -> Tensor:
        ctx.rank, ctx.counts = dist.get_rank(), counts
        return torch.cat(_all_gather_padded(x, list(counts)))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.counts[: ctx.rank])
        return grad[start : start + ctx.counts[ctx.rank]], None


def gather_rows(x: Tensor) -> tuple[Tensor, int]:
    """``[n_r, ...] -> ([sum_r n_r, ...], offset of this rank's rows)``, in rank order, with
    the exact backward described above (ranks may hold different numbers of rows).
    Tensors that need no gradient (labels) are gathered without the autograd node."""
    if world_size() == 1:
        return x, 0
    counts = _sizes(x.shape[0], x.device)
    offset = sum(counts[: dist.get_rank()])
    if x.requires_grad:
        return _GatherRows.apply(x, tuple(counts)), offset
    return torch.cat(_all_gather_padded(x.detach(), counts)), offset


def global_count(n: int | Tensor, device: torch.device | str = "cpu") -> Tensor:
    """Sum of ``n`` over ranks (no gradient)."""
    t = torch.as_tensor(n, dtype=torch.float64, device=device).clone()
    if world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def share_loss(share: Tensor) -> Tensor:
    """Value :math:`\\sum_r L_r` (identical on every rank), gradient of this rank's :math:`L_r`
    (times :math:`W` inside :func:`ddp_step`, to undo DDP's gradient averaging)."""
    if world_size() == 1:
        return share
    total = share.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    if _DDP_STEP:
        share = share * world_size()
    return share + (total - share.detach())
