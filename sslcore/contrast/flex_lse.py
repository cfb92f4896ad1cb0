r"""The contrast log-partition on torch's FlexAttention (``backend="flex"``).

FlexAttention (``torch.nn.attention.flex_attention``) is torch's maintained online-softmax
kernel; with ``return_lse=True`` it returns :math:`\log\sum_j \exp(q_i^\top k_j \cdot
\mathrm{scale})` per query, and gradients flow through that output. A contrast
log-partition is that LSE with a throw-away value tensor:

- self (NT-Xent): ``q = k = u``, the diagonal set to ``-inf`` by a ``score_mod``;
- cross (InfoNCE, CLIP): ``q``, ``k``; ``exclude`` likewise by ``score_mod``; the column
  LSE is a second call with ``q`` and ``k`` swapped.

Masks go through ``score_mod`` rather than a ``BlockMask``: ``create_block_mask`` with a
Python ``mask_mod`` materialised a dense ``M x M`` mask at 65536 pairs (128 GiB asked) when it
was measured; a ``score_mod`` costs one compare per score and no memory. Compiled with
``torch.compile`` on CUDA; on CPU FlexAttention runs eagerly and has no backward, so there
it serves values only (the tests' parity checks). ``temperature`` as a Python float goes in
``scale``; a tensor scales ``q`` (no host sync). fp16 / bf16 / fp32 only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from sslcore.contrast._checks import check_exclude, check_rows

VALUE_DIM = 16  # the smallest value width FlexAttention accepts; the output is discarded


@functools.cache
def _flex() -> Callable[..., Any]:
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention, dynamic=False) if torch.cuda.is_available() else flex_attention


def _check(name: str, xs: dict[str, Tensor]) -> None:
    check_rows(name, xs)
    (n0, x0), *rest = xs.items()
    for arg, x in xs.items():
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32):
            raise ValueError(f"{name}: {arg} is {x.dtype}; FlexAttention takes float16, bfloat16 or float32")
    for arg, x in rest:
        if (x.device, x.dtype) != (x0.device, x0.dtype):
            raise ValueError(
                f"{name}: {n0} is {x0.dtype} on {x0.device} but {arg} is {x.dtype} on {x.device}; "
                "use one dtype and device"
            )
    if not x0.is_cuda and any(x.requires_grad for x in xs.values()) and torch.is_grad_enabled():
        raise ValueError(
            f"{name}: FlexAttention has no backward on {x0.device}; use CUDA tensors or backend='tiled'"
        )


def _lse(
    q: Tensor, k: Tensor, temperature: float | Tensor, score_mod: Callable[..., Tensor] | None
) -> Tensor:
    """``[Nq]`` fp32 ``log Σ_j exp(score_mod(q_i · k_j / τ))``."""
    if isinstance(temperature, Tensor):
        q, scale = (q / temperature.to(q.device)).to(q.dtype), 1.0
    else:
        scale = 1.0 / float(temperature)
    v = q.new_zeros((1, 1, k.shape[0], VALUE_DIM))
    _, lse = _flex()(q[None, None], k[None, None], v, score_mod=score_mod, scale=scale, return_lse=True)
    return lse[0, 0].float()


def _no_diagonal(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
    return torch.where(q_idx == kv_idx, float("-inf"), score)


def flex_self_logsumexp(u: Tensor, temperature: float | Tensor) -> Tensor:
    r"""``[M]``: :math:`\ell_i = \log\sum_{j \ne i}\exp(u_i^\top u_j/\tau)` (fp32), by FlexAttention."""
    _check("flex_self_logsumexp", {"u": u})
    return _lse(u, u, temperature, _no_diagonal)


def flex_cross_logsumexp(
    q: Tensor, k: Tensor, temperature: float | Tensor, columns: bool = False, exclude: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""Row ``[Nq]`` and (``columns=True``) column ``[Nk]`` log-sum-exps of :math:`q k^\top/\tau`,
    entry ``(i, exclude[i])`` left out; same contract as
    :func:`sslcore.contrast.tiled.cross_logsumexp` (``-inf`` placeholder without columns)."""
    _check("flex_cross_logsumexp", {"q": q, "k": k})
    row_mod = col_mod = None
    if exclude is not None:
        check_exclude("flex_cross_logsumexp", exclude, q)
        ex = exclude.long()

        def row_mod(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return torch.where(ex[q_idx] == kv_idx, float("-inf"), score)

        def col_mod(score: Tensor, b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return torch.where(ex[kv_idx] == q_idx, float("-inf"), score)

    row = _lse(q, k, temperature, row_mod)
    if columns:
        return row, _lse(k, q, temperature, col_mod)
    return row, torch.full((k.shape[0],), float("-inf"), dtype=row.dtype, device=row.device)
