r"""Triton kernels for the log-partition of softmax contrast losses.

Same semantics as :mod:`sslcore.contrast.tiled` (see there for the split of a loss into a
positive term and a log-partition), fused into GPU kernels in the style of
FlashAttention (Dao et al. 2022): with :math:`S = Q K^\top / \tau`,

.. math::
    \ell^{row}_i = \log \sum_j \exp(s_{ij}), \qquad
    \ell^{col}_j = \log \sum_i \exp(s_{ij}),

with, for self-similarity (:math:`Q = K = U`), the diagonal :math:`j = i` left out and, in
the cross case, optionally one entry :math:`(i, \mathrm{exclude}_i)` per row (a query's own
position among gathered keys).

- forward: a program owns ``BLOCK_M`` rows, streams ``BLOCK_N``-column tiles with an
  online max / sum in fp32 (fp64 for fp64 inputs) and writes one value per row; the
  column log-sum-exp is the same kernel on :math:`K Q^\top`;
- backward: a program owns ``BLOCK_M`` rows and one ``BLOCK_D`` slice of the gradient,
  recomputes its score tiles and accumulates
  :math:`\partial_{a_i} = \frac1\tau \sum_j w_{ij} b_j` with
  :math:`w_{ij} = g^a_i e^{s_{ij} - \ell^a_i} + g^b_j e^{s_{ij} - \ell^b_j}`; the self case
  is ``a = b = u`` (both terms land on row ``i``), the cross case runs once for ``dq`` and
  once, transposed, for ``dk``. No atomics; :math:`\partial_\tau = -\frac{c}{\tau}
  \sum_{ij} w_{ij} s_{ij}` (``c = 1/2`` for self, 1 for cross) is summed per program and
  reduced in torch;
- the column range can be split over programs (``splits``) when there are few row blocks
  (e.g. a small batch against a long queue); partial results are combined in torch.

Inputs: fp32 / fp16 / bf16 / fp64, any strides (made contiguous), any ``N >= 1``,
``d >= 1`` (``d`` is looped over in ``BLOCK_D`` chunks with masks). Log-sum-exps are fp32
(fp64 for fp64), gradients come back in each input's dtype. fp32 products use IEEE fp32
unless ``torch.backends.cuda.matmul.allow_tf32`` is set. The kernels run on CUDA tensors,
and on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests run them).
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable


def _lse_fwd_kernel(
    A, B, EXA, EXB, TAU, OUT, MA, MB, D, COLS_PER_SPLIT,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, DOT_IN_ACC: tl.constexpr, DIAG: tl.constexpr,
    HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr,
):  # fmt: skip
    """OUT[split, i] = log sum_{j in split} exp(a_i . b_j / tau) over the unmasked (i, j):
    j != i (DIAG), j != EXA[i] (HAS_EXA), i != EXB[j] (HAS_EXB)."""
    pid_m = tl.program_id(0)
    pid_s = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < MA
    inv_tau = 1.0 / tl.load(TAU).to(ACC)
    if HAS_EXA:
        exa = tl.load(EXA + rows, rmask, -1)
    m_i = tl.full([BLOCK_M], float("-inf"), ACC)
    l_i = tl.zeros([BLOCK_M], ACC)
    c_start = pid_s * COLS_PER_SPLIT
    c_end = tl.minimum(MB, c_start + COLS_PER_SPLIT)
    for c0 in range(c_start, c_end, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        cmask = cols < c_end
        s = tl.zeros([BLOCK_M, BLOCK_N], ACC)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + tl.arange(0, BLOCK_D)
            dmask = dd < D
            a = tl.load(
                A + rows[:, None].to(tl.int64) * D + dd[None, :], rmask[:, None] & dmask[None, :], 0.0
            )
            b = tl.load(
                B + cols[:, None].to(tl.int64) * D + dd[None, :], cmask[:, None] & dmask[None, :], 0.0
            )
            if DOT_IN_ACC:
                a = a.to(ACC)
                b = b.to(ACC)
            s = tl.dot(a, tl.trans(b), s, input_precision=PREC, out_dtype=ACC)
        s = s * inv_tau
        valid = rmask[:, None] & cmask[None, :]
        if DIAG:
            valid = valid & (rows[:, None] != cols[None, :])
        if HAS_EXA:
            valid = valid & (cols[None, :] != exa[:, None])
        if HAS_EXB:
            valid = valid & (rows[:, None] != tl.load(EXB + cols, cmask, -1)[None, :])
        s = tl.where(valid, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # no (-inf) - (-inf)
        l_i = l_i * tl.exp(m_i - m_safe) + tl.sum(tl.exp(s - m_safe[:, None]), 1)
        m_i = m_new
    lse = tl.where(l_i > 0, m_i + tl.log(tl.where(l_i > 0, l_i, 1.0)), float("-inf"))  # empty row: -inf
    tl.store(OUT + pid_s * MA + rows, lse, rmask)


def _lse_bwd_kernel(
    A, B, EXA, EXB, LA, GA, LB, GB, TAU, DA, DTAU, MA, MB, D, COLS_PER_SPLIT,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, DOT_IN_ACC: tl.constexpr, DIAG: tl.constexpr,
    HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr, HAS_GB: tl.constexpr,
):  # fmt: skip
    """DA[split, i, dslice] = (1/tau) sum_{j in split} w_ij b_j[dslice]; DTAU[split, m, d] = sum w_ij s_ij."""
    pid_m = tl.program_id(0)
    pid_d = tl.program_id(1)
    pid_s = tl.program_id(2)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rmask = rows < MA
    inv_tau = 1.0 / tl.load(TAU).to(ACC)
    if HAS_EXA:
        exa = tl.load(EXA + rows, rmask, -1)
    if HAS_GA:
        la = tl.load(LA + rows, rmask, 0.0)
        la = tl.where(la == float("-inf"), 0.0, la)  # a row with no terms: all its w are masked
        ga = tl.load(GA + rows, rmask, 0.0).to(ACC)
    dout = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    omask = dout < D
    acc = tl.zeros([BLOCK_M, BLOCK_D], ACC)
    dtau = tl.zeros([BLOCK_M], ACC)
    c_start = pid_s * COLS_PER_SPLIT
    c_end = tl.minimum(MB, c_start + COLS_PER_SPLIT)
    for c0 in range(c_start, c_end, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        cmask = cols < c_end
        s = tl.zeros([BLOCK_M, BLOCK_N], ACC)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + tl.arange(0, BLOCK_D)
            dmask = dd < D
            a = tl.load(
                A + rows[:, None].to(tl.int64) * D + dd[None, :], rmask[:, None] & dmask[None, :], 0.0
            )
            b = tl.load(
                B + cols[:, None].to(tl.int64) * D + dd[None, :], cmask[:, None] & dmask[None, :], 0.0
            )
            if DOT_IN_ACC:
                a = a.to(ACC)
                b = b.to(ACC)
            s = tl.dot(a, tl.trans(b), s, input_precision=PREC, out_dtype=ACC)
        s = s * inv_tau
        valid = rmask[:, None] & cmask[None, :]
        if DIAG:
            valid = valid & (rows[:, None] != cols[None, :])
        if HAS_EXA:
            valid = valid & (cols[None, :] != exa[:, None])
        if HAS_EXB:
            valid = valid & (rows[:, None] != tl.load(EXB + cols, cmask, -1)[None, :])
        s_in = tl.where(valid, s, float("-inf"))  # masked terms: exp(-inf) = 0
        w = tl.zeros([BLOCK_M, BLOCK_N], ACC)
        if HAS_GA:
            w += ga[:, None] * tl.exp(s_in - la[:, None])
        if HAS_GB:
            lb = tl.load(LB + cols, cmask, 0.0)
            lb = tl.where(lb == float("-inf"), 0.0, lb)
            gb = tl.load(GB + cols, cmask, 0.0).to(ACC)
            w += gb[None, :] * tl.exp(s_in - lb[None, :])
        w = tl.where(valid, w, 0.0)
        dtau += tl.sum(w * s, 1)
        b = tl.load(B + cols[:, None].to(tl.int64) * D + dout[None, :], cmask[:, None] & omask[None, :], 0.0)
        if DOT_IN_ACC:
            acc = tl.dot(w, b.to(ACC), acc, input_precision=PREC, out_dtype=ACC)
        else:  # fp16 / bf16 operands on the tensor cores, fp32 accumulation
            acc = tl.dot(w.to(b.dtype), b, acc, input_precision=PREC, out_dtype=ACC)
    acc = acc * inv_tau
    out = DA + pid_s * MA * D + rows[:, None].to(tl.int64) * D + dout[None, :]
    tl.store(out, acc, rmask[:, None] & omask[None, :])
    n_m = tl.num_programs(0)
    n_d = tl.num_programs(1)
    tl.store(DTAU + (pid_s * n_m + pid_m) * n_d + pid_d, tl.sum(dtau, 0))


_JIT: dict[tuple[str, bool], Any] = {}


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _interpreter_loaded() -> bool:
    """Whether ``triton.language`` was imported in interpreter mode (decided at its import)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.zeros, InterpretedFunction)


def _kernel(fn: Any) -> Any:
    """``triton.jit(fn)``, built at first use so that ``TRITON_INTERPRET`` set after import counts."""
    key = (fn.__name__, _interpreting())
    if key not in _JIT:
        _JIT[key] = triton.jit(fn)
    return _JIT[key]


class _Config:
    """Per-call launch constants: tile sizes, accumulator dtype, dot precision, column splits."""

    def __init__(
        self, x: Tensor, ma: int, mb: int, block: int | None, block_d: int | None, splits: int | None
    ):
        d = x.shape[1]
        self.acc = torch.float64 if x.dtype == torch.float64 else torch.float32
        default = 32 if x.dtype == torch.float64 else 64
        self.block_m = self.block_n = block or default
        cap = 64 if x.dtype == torch.float64 else 128  # one operand tile <= 32 KB of shared memory
        self.block_d = block_d or min(max(16, triton.next_power_of_2(d)), cap)
        self.num_warps = 8 if self.block_d * x.element_size() >= 512 else 4
        for name, v in (("block", self.block_m), ("block_d", self.block_d)):
            if v < 16 or v & (v - 1):
                raise ValueError(f"triton contrast kernels: {name} must be a power of two >= 16, got {v}")
        self.tl_acc = tl.float64 if self.acc == torch.float64 else tl.float32
        self.dot_in_acc = x.dtype in (torch.float32, torch.float64) or (
            _interpreting() and x.dtype == torch.bfloat16  # the interpreter has no bf16 matmul
        )
        tf32 = x.is_cuda and torch.version.hip is None and torch.backends.cuda.matmul.allow_tf32
        self.prec = "tf32" if tf32 and x.dtype == torch.float32 else "ieee"
        self.grid_m = triton.cdiv(ma, self.block_m)
        self.grid_d = triton.cdiv(d, self.block_d)
        tiles = triton.cdiv(mb, self.block_n)
        if splits is None:  # fill about two waves of the GPU when the rows alone cannot
            target = 2 * torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 1
            splits = max(1, target // (self.grid_m * self.grid_d))
        per_split = triton.cdiv(tiles, max(1, min(splits, tiles)))
        self.splits = triton.cdiv(tiles, per_split)
        self.cols_per_split = per_split * self.block_n

    def constants(self) -> dict[str, Any]:
        return {
            "num_warps": self.num_warps,
            "num_stages": 2,  # two buffered operand tiles: <= 64 KB of shared memory (fits sm75+)
            "BLOCK_M": self.block_m,
            "BLOCK_N": self.block_n,
            "BLOCK_D": self.block_d,
            "ACC": self.tl_acc,
            "PREC": self.prec,
            "DOT_IN_ACC": self.dot_in_acc,
        }


class _Mask(NamedTuple):
    """Entries left out of ``a @ b.T``: the diagonal, ``(i, exa[i])`` and ``(exb[j], j)``."""

    diag: bool = False
    exa: Tensor | None = None
    exb: Tensor | None = None

    def transposed(self) -> _Mask:
        return _Mask(self.diag, self.exb, self.exa)

    def args(self, placeholder: Tensor) -> tuple[list[Tensor], dict[str, bool]]:
        ptrs = [placeholder if e is None else e for e in (self.exa, self.exb)]
        return ptrs, {"DIAG": self.diag, "HAS_EXA": self.exa is not None, "HAS_EXB": self.exb is not None}


def _on(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Launch on ``device`` (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _lse(a: Tensor, b: Tensor, tau: Tensor, cfg: _Config, mask: _Mask) -> Tensor:
    """``[Ma]`` row log-sum-exp of ``a @ b.T / tau`` over the entries ``mask`` keeps."""
    ma, mb = a.shape[0], b.shape[0]
    part = torch.empty((cfg.splits, ma), dtype=cfg.acc, device=a.device)
    ex, flags = mask.args(tau)
    with _on(a.device):
        _kernel(_lse_fwd_kernel)[(cfg.grid_m, cfg.splits)](
            a, b, *ex, tau, part, ma, mb, a.shape[1], cfg.cols_per_split, **flags, **cfg.constants()
        )
    return part[0] if cfg.splits == 1 else torch.logsumexp(part, dim=0)


def _grad(
    a: Tensor,
    b: Tensor,
    la_ga: tuple[Tensor, Tensor] | None,
    lb_gb: tuple[Tensor, Tensor] | None,
    tau: Tensor,
    cfg: _Config,
    mask: _Mask,
) -> tuple[Tensor, Tensor]:
    """``(d a [Ma, d] in a's dtype, sum_ij w_ij s_ij)`` for the weights described in the module doc."""
    ma, mb, d = a.shape[0], b.shape[0], a.shape[1]
    da = torch.empty((cfg.splits, ma, d), dtype=cfg.acc, device=a.device)
    dtau = torch.empty((cfg.splits, cfg.grid_m, cfg.grid_d), dtype=cfg.acc, device=a.device)
    la, ga = la_ga if la_ga is not None else (tau, tau)  # unused placeholders when absent
    lb, gb = lb_gb if lb_gb is not None else (tau, tau)
    ex, flags = mask.args(tau)
    with _on(a.device):
        _kernel(_lse_bwd_kernel)[(cfg.grid_m, cfg.grid_d, cfg.splits)](
            a, b, *ex, la, ga.contiguous(), lb, gb.contiguous(), tau, da, dtau, ma, mb, d, cfg.cols_per_split,
            HAS_GA=la_ga is not None, HAS_GB=lb_gb is not None, **flags, **cfg.constants(),
        )  # fmt: skip
    da = da[0] if cfg.splits == 1 else da.sum(0)
    return da.to(a.dtype), dtau[:, :, 0].sum()  # every d-slice sums the same w*s: keep slice 0


class _TritonSelfLSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, tau: Tensor, cfg: _Config) -> Tensor:
        lse = _lse(u, u, tau.detach().reshape(1), cfg, _Mask(diag=True))
        ctx.save_for_backward(u, tau, lse)
        ctx.cfg = cfg
        return lse

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None, None]:
        u, tau, lse = ctx.saved_tensors
        t = tau.detach().reshape(1)
        g = (lse, grad.to(lse.dtype))
        du, ws = _grad(u, u, g, g, t, ctx.cfg, _Mask(diag=True))
        dtau = (-0.5 * ws / t[0]).to(tau.dtype) if ctx.needs_input_grad[1] else None
        return du, dtau, None


class _TritonCrossLSE(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, q: Tensor, k: Tensor, tau: Tensor, cfgs: tuple[_Config, _Config], columns: bool, mask: _Mask
    ) -> tuple[Tensor, Tensor]:
        t = tau.detach().reshape(1)
        row = _lse(q, k, t, cfgs[0], mask)
        if columns:
            col = _lse(k, q, t, cfgs[1], mask.transposed())
        else:
            col = torch.full((k.shape[0],), -math.inf, dtype=row.dtype, device=row.device)
            ctx.mark_non_differentiable(col)
        ctx.save_for_backward(q, k, tau, row, col)
        ctx.cfgs, ctx.columns, ctx.mask = cfgs, columns, mask
        return row, col

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_row: Tensor | None, g_col: Tensor | None):  # type: ignore[override]
        q, k, tau, row, col = ctx.saved_tensors
        t = tau.detach().reshape(1)
        r = (row, g_row.to(row.dtype)) if g_row is not None else None
        c = (col, g_col.to(col.dtype)) if g_col is not None and ctx.columns else None
        if r is None and c is None:
            return torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(tau), None, None, None
        dq, ws = _grad(q, k, r, c, t, ctx.cfgs[0], ctx.mask)
        dk, _ = _grad(k, q, c, r, t, ctx.cfgs[1], ctx.mask.transposed())
        dtau = (-ws / t[0]).to(tau.dtype) if ctx.needs_input_grad[2] else None
        return dq, dk, dtau, None, None, None


def _prepare(name: str, xs: list[Tensor], temperature: float | Tensor) -> tuple[list[Tensor], Tensor]:
    """Validate, cast to one floating dtype, make contiguous; temperature as a scalar tensor."""
    for x in xs:
        if x.dim() != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{name}: inputs must be non-empty 2-D [N, d], got shape {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ValueError(f"{name}: inputs must be floating point, got {x.dtype}")
    if len({x.device for x in xs}) > 1 or len({x.shape[1] for x in xs}) > 1:
        raise ValueError(
            f"{name}: inputs must share device and width d, got {[(x.device, x.shape) for x in xs]}"
        )
    if not (xs[0].is_cuda or _interpreting()):
        raise ValueError(f"{name}: Triton needs CUDA tensors (or TRITON_INTERPRET=1), got {xs[0].device}")
    if not xs[0].is_cuda and not _interpreter_loaded():
        raise RuntimeError(f"{name}: TRITON_INTERPRET=1 must be set before triton is first imported")
    dtype = xs[0].dtype
    for x in xs[1:]:
        dtype = torch.promote_types(dtype, x.dtype)
    acc = torch.float64 if dtype == torch.float64 else torch.float32
    if isinstance(temperature, Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{name}: temperature must be a scalar, got shape {tuple(temperature.shape)}")
        tau = temperature.reshape(()).to(device=xs[0].device, dtype=acc)
    else:
        tau = torch.tensor(float(temperature), device=xs[0].device, dtype=acc)
    return [x.to(dtype).contiguous() for x in xs], tau


def triton_self_logsumexp(
    u: Tensor, temperature: float | Tensor, block: int | None = None, block_d: int | None = None,
    splits: int | None = None,
) -> Tensor:  # fmt: skip
    r"""``[M]``: :math:`\ell_i = \log\sum_{j \ne i} \exp(u_i^\top u_j / \tau)` for ``u: [M, d]``.

    Triton twin of :func:`sslcore.contrast.tiled.self_logsumexp` (``M = 1`` gives ``-inf``).
    ``block`` (rows = columns per tile) and ``block_d`` are powers of two >= 16 (defaults
    64 and ``min(next_pow2(d), 128)``; 32 / 64 for fp64); ``splits`` divides the columns
    over that many programs per row block (default: enough to fill the GPU).
    Returns fp32 (fp64 for fp64 ``u``); gradients w.r.t. ``u`` and a tensor ``temperature``.
    """
    (x,), tau = _prepare("triton_self_logsumexp", [u], temperature)
    cfg = _Config(x, x.shape[0], x.shape[0], block, block_d, splits)
    return _TritonSelfLSE.apply(x, tau, cfg)


def triton_cross_logsumexp(
    q: Tensor, k: Tensor, temperature: float | Tensor, columns: bool = False, block: int | None = None,
    exclude: Tensor | None = None, block_d: int | None = None, splits: int | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    r"""Row log-sum-exp ``[Nq]`` of :math:`S = q k^\top / \tau` for ``q: [Nq, d]``,
    ``k: [Nk, d]`` and, with ``columns=True``, the column log-sum-exp ``[Nk]`` (otherwise a
    non-differentiable ``-inf`` placeholder).

    Triton twin of :func:`sslcore.contrast.tiled.cross_logsumexp`. ``exclude``: ``[Nq]``
    integer column index left out of row ``i`` (and so row ``i`` out of that column), ``-1``
    for none — e.g. a query's own position among gathered keys. ``block``, ``block_d`` and
    ``splits`` as in :func:`triton_self_logsumexp`. Mixed input dtypes are promoted.
    """
    (x, y), tau = _prepare("triton_cross_logsumexp", [q, k], temperature)
    mask = _Mask()
    if exclude is not None:
        if exclude.shape != (x.shape[0],) or exclude.dtype.is_floating_point or exclude.device != x.device:
            raise ValueError(
                f"triton_cross_logsumexp: exclude must be an integer [{x.shape[0]}] tensor on {x.device}, "
                f"got {exclude.dtype} {tuple(exclude.shape)} on {exclude.device}"
            )
        mask = _Mask(exa=exclude.to(torch.int32).contiguous())
    cfg_q = _Config(x, x.shape[0], y.shape[0], block, block_d, splits)
    cfg_k = _Config(y, y.shape[0], x.shape[0], block, block_d, splits)
    return _TritonCrossLSE.apply(x, y, tau, (cfg_q, cfg_k), columns, mask)
