r"""Fused Triton kernels for the log-partition of softmax contrast losses.

Same semantics as :mod:`sslcore.contrast.tiled`: with :math:`S = Q K^\top / \tau`,

.. math::
    \ell^{row}_i = \log \sum_j \exp(s_{ij}), \qquad
    \ell^{col}_j = \log \sum_i \exp(s_{ij}),

the diagonal left out for self-similarity (:math:`Q = K = U`) and optionally one entry
:math:`(i, \mathrm{exclude}_i)` per row in the cross case. Built the way FlashAttention-2
is (Dao 2023): tiles loaded in the input dtype straight into tensor-core dots (bf16 / fp16;
fp32 as TF32 unless :func:`sslcore.contrast.precision.set_fp32_precision` says ``"ieee"``),
fp32 accumulation, an online max / sum in base 2, the log-sum-exp saved by the forward and
the backward recomputing the scores from it. Kernel bodies: :mod:`._triton_kernels`; tile
candidates: :mod:`.triton_configs` (autotuned per size, ``d`` and dtype on CUDA).

- forward: one row pass (``K Qᵀ`` for the column log-sum-exp);
- backward: one row pass giving :math:`\partial_{a_i} = \frac1\tau\sum_j w_{ij} b_j` with
  :math:`w_{ij} = g^a_i P^a_{ij} + g^b_j P^b_{ij}` — both :math:`P U` and :math:`P^\top U`
  of the self case land on row :math:`i` (``w`` is symmetric), so no program writes
  another's rows: no atomics, bit-identical results run to run. Rows wider than
  :func:`~.triton_configs.fused_max_d` go through a ``[M, chunk]`` block of weights in HBM and
  a GEMM (work linear in ``d``, extra memory ``O(M·d)``);
- :math:`\partial_\tau` needs no kernel: the losses depend on the inputs only through
  :math:`Q K^\top / \tau`, so :math:`\partial_\tau = -\frac{c}{\tau}\langle Q, \partial_Q\rangle`
  (:math:`c = 1` cross, :math:`1/2` self).

Inputs: fp16 / bf16 / fp32 / fp64, both of one dtype, any strides, ``N >= 1``, ``d >= 1``.
Log-sum-exps come back in fp32 (fp64 for fp64), gradients in the input dtype. The kernels
run on CUDA tensors, and on CPU tensors under ``TRITON_INTERPRET=1`` (how the tests run).
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from sslcore.contrast import _triton_kernels as K
from sslcore.contrast._checks import check_exclude, check_rows, check_temperature
from sslcore.contrast.precision import get_fp32_precision
from sslcore.contrast.triton_configs import Tile, configs, fused_max_d

_LOG2E, _LN2 = 1.0 / math.log(2.0), math.log(2.0)
#: rows wider than the fused kernels hold are zero-padded to a multiple of this
WIDE_MULTIPLE = 128
#: one-exp2 weights are used when every finite log-sum-exp lies within this many powers of 2
SINGLE_EXP_SPREAD = 64.0

_TUNED: dict[tuple[Any, ...], Any] = {}
#: tests: autotune on the interpreter too, timing candidates with this ``do_bench`` stand-in
_CPU_AUTOTUNE_BENCH: Any = None


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def _interpreter_loaded() -> bool:
    """Whether ``triton.language`` was imported in interpreter mode (decided at its import)."""
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(tl.zeros, InterpretedFunction)


def jit(name: str) -> Any:
    """The jitted kernel ``name`` (``fwd``, ``bwd``, ``w``, ``wb``)."""
    return getattr(K, f"_{name}_kernel")


_FLAGS = ["DIAG", "HAS_EXA", "HAS_EXB", "PREC"]
_KEYS = {  # a new value of any of these re-runs the autotuner (once per process)
    "fwd": ["SIZE_KEY", "D", *_FLAGS],
    "fwd_wide": ["SIZE_KEY", "D", *_FLAGS],
    "bwd": ["SIZE_KEY", "D", "HAS_GA", "HAS_GB", "NEED_TAU", *_FLAGS],
    "w": ["SIZE_KEY", "D", "HAS_GA", "HAS_GB", "NEED_TAU", *_FLAGS],
    "wb": ["SIZE_KEY", "D", "CW", "PREC"],
}


def size_key(ma: int, mb: int) -> int:
    """The autotuning class of an ``[ma] x [mb]`` problem: the powers of two just above both
    sizes (a batch that varies a little, or a last short batch, reuses the tiles chosen), as
    an odd number so that Triton's integer specialisation (== 1, multiple of 16) never
    compiles the kernel again for another class."""
    return 2 * (64 * (ma - 1).bit_length() + (mb - 1).bit_length()) + 3


def _tuned(kernel: str, dtype: torch.dtype, block_d: int, prec: str) -> Any:
    """The autotuned launcher of ``kernel`` for one dtype / row width class / precision."""
    key = (kernel, dtype, block_d, prec)
    if key not in _TUNED:
        cands = [_as_config(kernel, t) for t in configs(kernel, dtype, block_d, prec)]
        # benchmarking runs a candidate several times: the GEMM accumulates into DA (restored
        # after each run) and the weights kernel writes DT rows only up to its own grid (zeroed)
        _TUNED[key] = triton.autotune(
            cands,
            key=_KEYS[kernel],
            restore_value=["DA"] if kernel == "wb" else None,
            reset_to_zero=["DT"] if kernel == "w" else None,
            do_bench=_CPU_AUTOTUNE_BENCH,
        )(jit(kernel.removesuffix("_wide")))
    return _TUNED[key]


def _as_config(kernel: str, t: Tile) -> triton.Config:
    return triton.Config(_tile_kwargs(kernel, t), num_warps=t.num_warps, num_stages=t.num_stages)


def _tile_kwargs(kernel: str, t: Tile) -> dict[str, int]:
    if kernel == "wb":
        return {"BLOCK_M": t.block_m, "BLOCK_K": t.block_n, "BLOCK_D": t.block_d}
    kw = {"BLOCK_M": t.block_m, "BLOCK_N": t.block_n}
    if kernel in ("fwd_wide", "w"):
        kw["BLOCK_D"] = t.block_d
    return kw


@dataclass(frozen=True)
class _Plan:
    """Launch constants of one call: dtypes, dot precision, tiles, column splits."""

    dtype: torch.dtype
    acc: torch.dtype
    prec: str
    upcast: bool  # the interpreter has no bf16 / fp16 dot: multiply in fp32 there
    fused: bool  # the whole row fits one tile (else: chunked forward, weights + GEMM backward)
    block_d: int  # fused: padded row width; wide: forced chunk width (0: tuned)
    d_pad: int  # the row width the kernels see: inputs are zero-padded to it (no masks along d)
    splits: int
    size_key: int
    tile: Tile | str | None  # None: autotune; "first": each kernel's first candidate; a Tile: that one

    @property
    def tl_acc(self) -> Any:
        return tl.float64 if self.acc == torch.float64 else tl.float32

    def common(self) -> dict[str, Any]:
        return {"ACC": self.tl_acc, "PREC": self.prec, "UPCAST": self.upcast}

    def launch(self, kernel: str, grid: Any, *args: Any, **constexprs: Any) -> None:
        """Launch ``kernel`` with this plan's tiles (or the autotuner's)."""
        fused_bd = self.block_d if kernel in ("fwd", "bwd") else 0
        if kernel in ("fwd", "bwd"):
            constexprs["BLOCK_D"] = self.block_d
        if self.tile is None:
            _tuned(kernel, self.dtype, fused_bd, self.prec)[grid](*args, **constexprs)
            return
        t = self.tile
        if t == "first":
            t = configs(kernel, self.dtype, fused_bd, self.prec)[0]
        elif kernel in ("fwd_wide", "w", "wb") and self.block_d:
            t = t._replace(block_d=self.block_d)
        fn = jit(kernel.removesuffix("_wide"))
        fn[grid(_tile_kwargs(kernel, t))](
            *args, **constexprs, **_tile_kwargs(kernel, t), num_warps=t.num_warps, num_stages=t.num_stages
        )


def _plan(x: Tensor, ma: int, mb: int, block: int | None, block_d: int | None, splits: int | None) -> _Plan:
    d = x.shape[1]
    for name, v in (("block", block), ("block_d", block_d)):
        if v is not None and (v < 16 or v & (v - 1)):
            raise ValueError(f"triton contrast kernels: {name} must be a power of two >= 16, got {v}")
    padded = max(16, triton.next_power_of_2(d))
    acc = torch.float64 if x.dtype == torch.float64 else torch.float32
    prec = get_fp32_precision() if x.dtype == torch.float32 else "ieee"
    fused = padded <= fused_max_d(x.dtype, prec) and (block_d is None or block_d >= d)
    d_pad = padded if fused else triton.cdiv(d, WIDE_MULTIPLE) * WIDE_MULTIPLE
    if splits is None:  # fill about two waves of the GPU when the rows alone cannot
        target = 2 * torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda else 1
        splits = max(1, min(target // triton.cdiv(ma, 128), triton.cdiv(mb, 128)))
    tile: Tile | str | None = None
    if block is not None or not (x.is_cuda or _CPU_AUTOTUNE_BENCH is not None):
        b = block or (32 if x.dtype == torch.float64 else 64)
        tile = Tile(b, b, 32 if x.dtype == torch.float64 else 64, 4, 2)
    elif torch.are_deterministic_algorithms_enabled():  # the same tiles in every process
        tile = "first"
    return _Plan(
        dtype=x.dtype,
        acc=acc,
        prec=prec,
        upcast=_interpreting() and x.dtype in (torch.float16, torch.bfloat16),
        fused=fused,
        block_d=padded if fused else (block_d or 0),
        d_pad=d_pad,
        splits=max(1, splits),
        size_key=size_key(ma, mb),
        tile=tile,
    )


class _Mask(NamedTuple):
    """Entries left out of ``a @ b.T``: the diagonal, ``(i, exa[i])`` and ``(exb[j], j)``."""

    diag: bool = False
    exa: Tensor | None = None
    exb: Tensor | None = None

    def transposed(self) -> _Mask:
        return _Mask(self.diag, self.exb, self.exa)

    def args(self, placeholder: Tensor) -> tuple[list[Tensor], dict[str, bool]]:
        ptrs = [placeholder if e is None else e for e in (self.exa, self.exb)]
        flags = {"DIAG": self.diag, "HAS_EXA": self.exa is not None, "HAS_EXB": self.exb is not None}
        return ptrs, flags


def _on(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Launch on ``device`` (Triton launches on the current CUDA device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _lse2(a: Tensor, b: Tensor, tau: Tensor, plan: _Plan, mask: _Mask) -> Tensor:
    """``[Ma]`` row log-sum-exp of ``a @ b.T / tau`` over the entries ``mask`` keeps, in base 2
    (``ℓ / ln 2``: what the backward reads, with no rounding through the natural log)."""
    ma, mb, d = a.shape[0], b.shape[0], a.shape[1]
    part = torch.empty((plan.splits, ma), dtype=plan.acc, device=a.device)
    ex, flags = mask.args(tau)
    kernel = "fwd" if plan.fused else "fwd_wide"
    with _on(a.device):
        plan.launch(
            kernel,
            lambda meta: (triton.cdiv(ma, meta["BLOCK_M"]), plan.splits),
            a, b, *ex, tau, part, ma, mb, d, plan.splits, plan.size_key,
            ONE_D=plan.fused,
            MASK_ALL=mask.exa is not None or mask.exb is not None, **flags, **plan.common(),
        )  # fmt: skip
    if plan.splits == 1:
        return part[0]
    top = part.amax(0)
    top = torch.where(torch.isfinite(top), top, 0.0)
    return top + torch.log2(torch.exp2(part - top).sum(0))


class _Weights(NamedTuple):
    """Per-row / per-column factors of ``w`` (base-2 log-sum-exps, gradients, rescalings)."""

    la: Tensor
    ga: Tensor
    ea: Tensor
    lb: Tensor
    gb: Tensor
    hb: Tensor
    flag: Tensor  # int32 scalar: 1 when the one-exp2 form is safe


def _weights(
    a_stats: tuple[Tensor, Tensor] | None, b_stats: tuple[Tensor, Tensor] | None, tau: Tensor
) -> _Weights:
    """Base-2 log-sum-exps with the rows that have no terms (``-inf``) zeroed out, and the
    rank-one rescaling ``ea_i = 2^(la_i - c)``, ``hb_j = g^b_j 2^(c - lb_j)``. ``*_stats``:
    (base-2 log-sum-exp, incoming gradient) or None."""

    def base2(stats: tuple[Tensor, Tensor] | None) -> tuple[Tensor, Tensor, Tensor]:
        if stats is None:
            return tau, tau, tau.new_zeros(1, dtype=torch.bool)  # placeholders, never read
        l2, g = stats
        ok = torch.isfinite(l2)
        return torch.where(ok, l2, 0.0), torch.where(ok, g.to(l2.dtype), 0.0), ok

    la, ga, ok_a = base2(a_stats)
    lb, gb, ok_b = base2(b_stats)
    if a_stats is None or b_stats is None:
        return _Weights(la, ga, tau, lb, gb, tau, tau.new_zeros((), dtype=torch.int32))
    both = torch.cat([torch.where(ok_a, la, math.nan), torch.where(ok_b, lb, math.nan)])
    hi = torch.where(torch.isnan(both), -math.inf, both).amax()
    lo = torch.where(torch.isnan(both), math.inf, both).amin()
    c = torch.where(torch.isfinite(hi), hi, 0.0)
    flag = ((hi - lo <= SINGLE_EXP_SPREAD) | ~torch.isfinite(hi)).to(torch.int32)
    ea = torch.exp2((la - c).clamp(-126.0, 126.0)) * ok_a
    hb = gb * torch.exp2((c - lb).clamp(-126.0, 126.0))
    return _Weights(la, ga, ea, lb, gb, hb, flag)


def _grad(
    a: Tensor,
    b: Tensor,
    a_stats: tuple[Tensor, Tensor] | None,
    b_stats: tuple[Tensor, Tensor] | None,
    tau: Tensor,
    plan: _Plan,
    mask: _Mask,
    need_tau: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """``d a = (1/τ) Σ_j w_ij b_j`` ``[Ma, d]`` in the accumulation dtype (module doc) and,
    with ``need_tau``, ``Σ_ij w_ij (a_i · b_j)`` (for the temperature gradient)."""
    ma, mb, d = a.shape[0], b.shape[0], a.shape[1]
    wt = _weights(a_stats, b_stats, tau)
    ex, flags = mask.args(tau)
    flags |= {"HAS_GA": a_stats is not None, "HAS_GB": b_stats is not None, "NEED_TAU": need_tau}
    args = (a, b, *ex, wt.la, wt.ga, wt.ea, wt.lb, wt.gb, wt.hb, tau, wt.flag)
    with _on(a.device):
        if plan.fused:
            da = torch.empty((plan.splits, ma, d), dtype=plan.acc, device=a.device)
            dt = torch.empty((plan.splits, ma) if need_tau else (1,), dtype=plan.acc, device=a.device)
            plan.launch(
                "bwd",
                lambda meta: (triton.cdiv(ma, meta["BLOCK_M"]), plan.splits),
                *args, da, dt, ma, mb, d, plan.splits, plan.size_key,
                MASK_ALL=mask.exa is not None or mask.exb is not None, **flags, **plan.common(),
            )  # fmt: skip
            return (da[0] if plan.splits == 1 else da.sum(0)), (dt.sum() if need_tau else None)
        # columns per chunk: about 2 d (the [M, chunk] weights stay O(M d)), a multiple of
        # every tile width so that no store or load is masked along a row
        da = torch.zeros((ma, d), dtype=plan.acc, device=a.device)
        chunk = min(triton.cdiv(mb, 128) * 128, max(256, triton.cdiv(2 * d, 128) * 128))
        min_bn = min(t.block_n for t in configs("w", plan.dtype, 0, plan.prec))
        if isinstance(plan.tile, Tile):  # pinned small tiles (tests): keep several chunks
            min_bn = bn = plan.tile.block_n
            chunk = min(chunk, max(bn, triton.cdiv(2 * d, bn) * bn))
        w = torch.empty((ma, chunk), dtype=plan.dtype, device=a.device)
        dts = []
        for c0 in range(0, mb, chunk):
            cn = min(chunk, mb - c0)
            dt = torch.zeros(
                (triton.cdiv(cn, min_bn), ma) if need_tau else (1,), dtype=plan.acc, device=a.device
            )
            plan.launch(
                "w",
                lambda meta, cn=cn: (triton.cdiv(ma, meta["BLOCK_M"]), triton.cdiv(cn, meta["BLOCK_N"])),
                *args, w, dt, ma, mb, d, c0, cn, chunk, plan.size_key, **flags, **plan.common(),
            )  # fmt: skip
            plan.launch(
                "wb",
                lambda meta: (triton.cdiv(ma, meta["BLOCK_M"]), d // meta["BLOCK_D"]),
                w, b, da, ma, mb, d, c0, cn, chunk, plan.size_key, **plan.common(),
            )  # fmt: skip
            if need_tau:
                dts.append(dt.sum())
        return da, (torch.stack(dts).sum() if need_tau else None)


def _dtau(ws: Tensor, tau: Tensor, c: float, like: Tensor) -> Tensor:
    """``∂τ = -(c/τ) Σ w_ij s_ij = -(c/τ²) Σ w_ij (a_i · b_j)`` in ``like``'s dtype and shape."""
    t = tau.reshape(())
    return (-c * ws / (t * t)).to(like.dtype).reshape(like.shape)


class _TritonSelfLSE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, u: Tensor, tau: Tensor, plan: _Plan) -> Tensor:
        lse2 = _lse2(u, u, tau.detach().reshape(1).to(plan.acc), plan, _Mask(diag=True))
        ctx.save_for_backward(u, tau, lse2)
        ctx.plan = plan
        return lse2 * _LN2

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None, None]:
        u, tau, lse2 = ctx.saved_tensors
        t = tau.detach().reshape(1).to(ctx.plan.acc)
        stats = (lse2, grad)
        du, ws = _grad(u, u, stats, stats, t, ctx.plan, _Mask(diag=True), ctx.needs_input_grad[1])
        dtau = _dtau(ws, t, 0.5, tau) if ws is not None else None
        return du.to(u.dtype), dtau, None


class _TritonCrossLSE(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any, q: Tensor, k: Tensor, tau: Tensor, plans: tuple[_Plan, _Plan], columns: bool, mask: _Mask
    ) -> tuple[Tensor, Tensor]:
        t = tau.detach().reshape(1).to(plans[0].acc)
        row2 = _lse2(q, k, t, plans[0], mask)
        if columns:
            col2 = _lse2(k, q, t, plans[1], mask.transposed())
        else:
            col2 = torch.full((k.shape[0],), -math.inf, dtype=row2.dtype, device=row2.device)
        ctx.save_for_backward(q, k, tau, row2, col2)
        ctx.plans, ctx.columns, ctx.mask = plans, columns, mask
        col = col2 * _LN2
        if not columns:
            ctx.mark_non_differentiable(col)
        return row2 * _LN2, col

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_row: Tensor | None, g_col: Tensor | None):  # type: ignore[override]
        q, k, tau, row, col = ctx.saved_tensors  # base-2 log-sum-exps
        t = tau.detach().reshape(1).to(ctx.plans[0].acc)
        r = (row, g_row) if g_row is not None else None
        c = (col, g_col) if g_col is not None and ctx.columns else None
        need_q, need_k, need_tau = ctx.needs_input_grad[:3]
        if r is None and c is None:
            zero = [
                torch.zeros_like(x) if need else None
                for x, need in ((q, need_q), (k, need_k), (tau, need_tau))
            ]
            return (*zero, None, None, None)
        dq, ws = (
            _grad(q, k, r, c, t, ctx.plans[0], ctx.mask, need_tau) if need_q or need_tau else (None, None)
        )
        dk = _grad(k, q, c, r, t, ctx.plans[1], ctx.mask.transposed())[0] if need_k else None
        dtau = _dtau(ws, t, 1.0, tau) if ws is not None else None
        return (
            dq.to(q.dtype) if need_q else None,
            dk.to(k.dtype) if need_k else None,
            dtau,
            None,
            None,
            None,
        )


def _padded(x: Tensor, plan: _Plan) -> Tensor:
    """``x`` with zero columns up to ``plan.d_pad`` (dot products unchanged; autograd slices
    the gradient back)."""
    return x if x.shape[1] == plan.d_pad else F.pad(x, (0, plan.d_pad - x.shape[1]))


def _prepare(name: str, xs: dict[str, Tensor], temperature: float | Tensor) -> tuple[list[Tensor], Tensor]:
    """Validate; make contiguous; temperature as a scalar tensor on the inputs' device."""
    check_rows(name, xs)
    for arg, x in xs.items():
        if x.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise ValueError(f"{name}: {arg} must be float16, bfloat16, float32 or float64, got {x.dtype}")
    (n0, x0), *rest = xs.items()
    for arg, x in rest:
        if x.device != x0.device:
            raise ValueError(
                f"{name}: {n0} is on {x0.device} but {arg} is on {x.device}; move both to one device"
            )
        if x.dtype != x0.dtype:
            raise ValueError(f"{name}: {n0} is {x0.dtype} but {arg} is {x.dtype}; cast both to one dtype")
        if x.shape[1] != x0.shape[1]:
            raise ValueError(
                f"{name}: {n0} and {arg} must have the same width d, got {x0.shape[1]} and {x.shape[1]}"
            )
    if not (x0.is_cuda or _interpreting()):
        raise ValueError(f"{name}: Triton needs CUDA tensors (or TRITON_INTERPRET=1), got {x0.device}")
    if not x0.is_cuda and not _interpreter_loaded():
        raise RuntimeError(f"{name}: TRITON_INTERPRET=1 must be set before triton is first imported")
    check_temperature(name, temperature)
    acc = torch.float64 if x0.dtype == torch.float64 else torch.float32
    if isinstance(temperature, Tensor):
        tau = temperature.reshape(()).to(x0.device)
    else:
        tau = torch.tensor(float(temperature), device=x0.device, dtype=acc)
    return [x.contiguous() for x in xs.values()], tau


def triton_self_logsumexp(
    u: Tensor, temperature: float | Tensor, block: int | None = None, block_d: int | None = None,
    splits: int | None = None,
) -> Tensor:  # fmt: skip
    r"""``[M]``: :math:`\ell_i = \log\sum_{j \ne i} \exp(u_i^\top u_j / \tau)` for ``u: [M, d]``.

    Triton twin of :func:`sslcore.contrast.tiled.self_logsumexp` (``M = 1`` gives ``-inf``).
    ``block`` (rows = columns per tile, a power of two >= 16) pins the tiles instead of
    autotuning them; ``block_d < d`` forces the chunked kernels for wide rows with that
    chunk width; ``splits`` divides the columns over that many programs per row block
    (default: enough to fill the GPU). Returns fp32 (fp64 for fp64 ``u``); gradients
    w.r.t. ``u`` and a tensor ``temperature``.
    """
    (x,), tau = _prepare("triton_self_logsumexp", {"u": u}, temperature)
    plan = _plan(x, x.shape[0], x.shape[0], block, block_d, splits)
    return _TritonSelfLSE.apply(_padded(x, plan), tau, plan)


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
    ``splits`` as in :func:`triton_self_logsumexp`. ``q`` and ``k`` must share dtype and device.
    """
    (x, y), tau = _prepare("triton_cross_logsumexp", {"q": q, "k": k}, temperature)
    mask = _Mask()
    if exclude is not None:
        check_exclude("triton_cross_logsumexp", exclude, x)
        mask = _Mask(exa=exclude.to(torch.int32).contiguous())
    plan_q = _plan(x, x.shape[0], y.shape[0], block, block_d, splits)
    plan_k = _plan(y, y.shape[0], x.shape[0], block, block_d, splits)
    return _TritonCrossLSE.apply(_padded(x, plan_q), _padded(y, plan_k), tau, (plan_q, plan_k), columns, mask)
