r"""Memory-lean log-sum-exp of similarity matrices, tile by tile.

Every softmax contrast loss here splits into a *positive* term, computed directly in
O(N·d), and a *log-partition* term, a row-wise log-sum-exp over a similarity matrix
:math:`S = Q K^\top / \tau`. This module computes that log-partition without ever
holding :math:`S`: the forward pass streams over ``[block, block]`` tiles and keeps an
online log-sum-exp per row (O(N) statistics); the backward pass recomputes each tile
from the saved inputs and the per-row results. Extra memory is O(N·d + N) plus one tile.

Gradients (:math:`P_{ij} = \exp(s_{ij} - \ell_i)`, :math:`g` the incoming gradient of
the per-row results :math:`\ell`):

.. math::
    \frac{\partial}{\partial q_i} = \frac1\tau \sum_j g_i P_{ij} k_j, \quad
    \frac{\partial}{\partial k_j} = \frac1\tau \sum_i g_i P_{ij} q_i, \quad
    \frac{\partial}{\partial \tau} = -\frac1\tau \sum_{ij} g_i P_{ij} s_{ij}.

For the self-similarity case (:math:`Q = K = U`, diagonal excluded) both sums land on
the same rows, and each tile contributes :math:`(g_i P_{ij} + g_j P_{ji})\,u_j` to row
:math:`i`, so a row block needs no write to other rows — the layout the GPU kernel uses.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

#: rows x columns of one tile; 2048 x 2048 fp32 is 16 MB
DEFAULT_BLOCK = 2048


def _blocks(n: int, block: int) -> list[tuple[int, int]]:
    return [(i, min(i + block, n)) for i in range(0, n, block)]


def _as_tensor(temperature: float | Tensor, like: Tensor) -> Tensor:
    if isinstance(temperature, Tensor):
        return temperature.reshape(()).to(device=like.device, dtype=like.dtype)
    return torch.tensor(float(temperature), device=like.device, dtype=like.dtype)


def _upper_tiles(n: int, block: int) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Pairs of blocks (row block, column block) on or above the block diagonal."""
    blocks = _blocks(n, block)
    return [(rows, cols) for i, rows in enumerate(blocks) for cols in blocks[i:]]


def _excluded(exclude: Tensor, r0: int, r1: int, c0: int, c1: int) -> Tensor:
    """``[r1 - r0, c1 - c0]`` mask of the tile entries ``(i, exclude[i])``."""
    cols = torch.arange(c0, c1, device=exclude.device)
    return exclude[r0:r1, None] == cols[None, :]


class _SelfLSE(torch.autograd.Function):
    """``lse_i = log sum_{j != i} exp(u_i . u_j / tau)`` for ``u: [M, d]``.

    The similarity matrix is symmetric, so only tiles on or above the block diagonal are
    computed: each gives the row statistics of its rows and the column statistics of its
    columns (forward), and the gradient of both its row block and its column block
    (backward) — half the matrix products and exponentials of a full sweep.
    """

    @staticmethod
    def forward(ctx: Any, u: Tensor, tau: Tensor, block: int) -> Tensor:
        lse = torch.full((u.shape[0],), float("-inf"), dtype=u.dtype, device=u.device)
        scaled = u / tau
        for (r0, r1), (c0, c1) in _upper_tiles(u.shape[0], block):
            tile = scaled[r0:r1] @ u[c0:c1].T
            if r0 == c0:
                tile.fill_diagonal_(float("-inf"))
            lse[r0:r1] = torch.logaddexp(lse[r0:r1], torch.logsumexp(tile, dim=1))
            if r0 != c0:
                lse[c0:c1] = torch.logaddexp(lse[c0:c1], torch.logsumexp(tile, dim=0))
        ctx.save_for_backward(u, tau, lse)
        ctx.block = block
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        u, tau, lse = ctx.saved_tensors
        scaled = u / tau
        du = torch.zeros_like(u)
        dtau_acc = torch.zeros((), dtype=u.dtype, device=u.device)
        for (r0, r1), (c0, c1) in _upper_tiles(u.shape[0], ctx.block):
            s = scaled[r0:r1] @ u[c0:c1].T
            # a_ij = g_i P_ij + g_j P_ji = dL/ds_ij + dL/ds_ji  (s is symmetric)
            a = (s - lse[r0:r1, None]).exp_().mul_(grad[r0:r1, None])
            a.add_((s - lse[None, c0:c1]).exp_().mul_(grad[None, c0:c1]))
            if r0 == c0:
                a.fill_diagonal_(0.0)
            du[r0:r1].addmm_(a, scaled[c0:c1])
            if r0 != c0:
                du[c0:c1].addmm_(a.T, scaled[r0:r1])
            if ctx.needs_input_grad[1]:
                dtau_acc += (a * s).sum() * (1 if r0 == c0 else 2)
        # sum_ij a_ij s_ij counts every pair twice (g_i P_ij + g_j P_ji), hence the 1/2
        dtau = -0.5 * dtau_acc / tau if ctx.needs_input_grad[1] else None
        return du, dtau, None


class _CrossLSE(torch.autograd.Function):
    """Row and (optionally) column log-sum-exp of ``q @ k.T / tau``; entry ``(i, exclude[i])``
    is left out when ``exclude`` is given (the self-similarity of a query that is also a key)."""

    @staticmethod
    def forward(
        ctx: Any, q: Tensor, k: Tensor, tau: Tensor, block: int, columns: bool, exclude: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        scaled = q / tau
        row = torch.full((q.shape[0],), float("-inf"), dtype=q.dtype, device=q.device)
        col = torch.full((k.shape[0],), float("-inf"), dtype=q.dtype, device=q.device)
        for r0, r1 in _blocks(q.shape[0], block):
            acc = row[r0:r1]
            for c0, c1 in _blocks(k.shape[0], block):
                tile = scaled[r0:r1] @ k[c0:c1].T
                if exclude is not None:
                    tile.masked_fill_(_excluded(exclude, r0, r1, c0, c1), float("-inf"))
                acc = torch.logaddexp(acc, torch.logsumexp(tile, dim=1))
                if columns:
                    col[c0:c1] = torch.logaddexp(col[c0:c1], torch.logsumexp(tile, dim=0))
            row[r0:r1] = acc
        ctx.save_for_backward(q, k, tau, row, col, exclude)
        ctx.block, ctx.columns = block, columns
        return row, col

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_row: Tensor | None, g_col: Tensor | None):  # type: ignore[override]
        q, k, tau, row, col, exclude = ctx.saved_tensors
        inv_tau = 1.0 / tau
        scaled, k_scaled = q * inv_tau, k * inv_tau
        use_col = ctx.columns and g_col is not None
        dq, dk = torch.zeros_like(q), torch.zeros_like(k)
        dtau_acc = torch.zeros((), dtype=q.dtype, device=q.device)
        for r0, r1 in _blocks(q.shape[0], ctx.block):
            for c0, c1 in _blocks(k.shape[0], ctx.block):
                s = scaled[r0:r1] @ k[c0:c1].T
                a = torch.zeros_like(s)
                if g_row is not None:
                    a.add_((s - row[r0:r1, None]).exp_().mul_(g_row[r0:r1, None]))
                if use_col:
                    a.add_((s - col[None, c0:c1]).exp_().mul_(g_col[None, c0:c1]))
                if exclude is not None:
                    a.masked_fill_(_excluded(exclude, r0, r1, c0, c1), 0.0)
                dq[r0:r1].addmm_(a, k_scaled[c0:c1])
                dk[c0:c1].addmm_(a.T, scaled[r0:r1])
                if ctx.needs_input_grad[2]:
                    dtau_acc += (a * s).sum()
        dtau = -dtau_acc * inv_tau if ctx.needs_input_grad[2] else None
        return dq, dk, dtau, None, None, None


def self_logsumexp(u: Tensor, temperature: float | Tensor, block: int = DEFAULT_BLOCK) -> Tensor:
    r"""``[M]``: :math:`\ell_i = \log\sum_{j \ne i} \exp(u_i^\top u_j / \tau)` for ``u: [M, d]``,
    without materialising the ``[M, M]`` matrix."""
    return _SelfLSE.apply(u, _as_tensor(temperature, u), block)


def cross_logsumexp(
    q: Tensor,
    k: Tensor,
    temperature: float | Tensor,
    columns: bool = False,
    block: int = DEFAULT_BLOCK,
    exclude: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Row log-sum-exp ``[Nq]`` of :math:`S = q k^\top / \tau` and, with ``columns=True``,
    the column log-sum-exp ``[Nk]`` (otherwise a ``-inf`` placeholder), in one pass.

    ``exclude``: ``[Nq]`` column index left out of row ``i`` (``-1``: none), e.g. the
    position of query ``i`` among the keys when the keys are a gathered global batch."""
    return _CrossLSE.apply(q, k, _as_tensor(temperature, q), block, columns, exclude)
