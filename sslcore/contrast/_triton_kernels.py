r"""Triton kernel bodies of :mod:`sslcore.contrast.triton_lse` (launch code and autograd live there).

Notation: ``A [MA, D]`` row operand, ``B [MB, D]`` column operand, ``S = A Bᵀ / τ``. Every
score is kept in base 2, ``t = S · log2(e)``, so that the softmax needs one ``exp2`` per
entry and the scale folds into a fused multiply-add (FlashAttention-2's trick). Tiles are
loaded in the input dtype and multiplied on the tensor cores (bf16 / fp16; fp32 through
tf32 unless ``PREC = "ieee"``) with fp32 accumulation (fp64 for fp64 inputs).

Masked entries: ``j = i`` (``DIAG``), ``j = EXA[i]`` (``HAS_EXA``), ``i = EXB[j]``
(``HAS_EXB``) and columns past ``MB``. Loops over column tiles are split so that only the
tiles that can hold a masked entry pay for the mask (``_segments``).

``SIZE_KEY`` (every kernel) is read by the autotuner only: the size class of the problem, so
that tiles are chosen once per class rather than once per exact row count.

Kernels:

- ``_fwd_kernel``: row log-sum-exp, online max / sum (one program: ``BLOCK_M`` rows, one
  column range);
- ``_bwd_kernel``: fused row-owned gradient for ``D <= BLOCK_D``:
  ``dA_i = (1/τ) Σ_j w_ij b_j`` with ``w_ij = g^a_i P^a_ij + g^b_j P^b_ij``,
  ``P^a_ij = exp(s_ij - ℓ^a_i)``, ``P^b_ij = exp(s_ij - ℓ^b_j)``. With ``SINGLE`` the second
  probability is ``P^a_ij · 2^(ℓa_i - c) · 2^(c - ℓb_j)`` (rank-one rescaling, one ``exp2`` per
  entry), valid when every ``ℓ`` lies within 64 (base 2) of ``c`` — checked on the device;
- ``_w_kernel`` + ``_wb_kernel``: the same gradient for wide rows, through a
  ``[MA, chunk]`` block of weights in HBM and a GEMM, so that the work stays linear in ``D``.
"""

from __future__ import annotations

import triton
import triton.language as tl
from triton.runtime.interpreter import InterpretedFunction

LOG2E = tl.constexpr(1.4426950408889634)


def _jit(fn):  # noqa: ANN001, ANN202
    """``triton.jit``, or the interpreter's wrapper when ``triton.language`` was imported
    under ``TRITON_INTERPRET=1`` (the mode is fixed by that import, not by this one)."""
    return InterpretedFunction(fn) if isinstance(tl.zeros, InterpretedFunction) else triton.jit(fn)


@_jit
def _load_rows(P, rows, MROWS, D, dd, MASK_ROWS: tl.constexpr):
    """``P[rows, dd]`` (row stride ``D``; ``dd`` always inside it), zeros at ``rows >= MROWS``
    when asked."""
    ptrs = P + rows[:, None].to(tl.int64) * D + dd[None, :]
    if MASK_ROWS:
        x = tl.load(ptrs, mask=rows[:, None] < MROWS, other=0.0)
    else:
        x = tl.load(ptrs)
    return x


@_jit
def _scores(
    a, A, B, rows, cols, MA, MB, D,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, ONE_D: tl.constexpr,
    MASK_COLS: tl.constexpr, ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``[BLOCK_M, BLOCK_N]`` products ``a_i · b_j`` in ``ACC`` (no scale); ``a`` is the
    row block when it holds all of ``D`` (``ONE_D``), else it is reloaded chunk by chunk."""
    if ONE_D:
        dd = tl.arange(0, BLOCK_D)
        b = _load_rows(B, cols, MB, D, dd, MASK_COLS)
        if UPCAST:
            b = b.to(ACC)
        s = tl.dot(a, tl.trans(b), input_precision=PREC, out_dtype=ACC)
    else:
        s = tl.zeros([BLOCK_M, BLOCK_N], ACC)
        for d0 in range(0, D, BLOCK_D):
            dd = d0 + tl.arange(0, BLOCK_D)
            ac = _load_rows(A, rows, MA, D, dd, True)
            bc = _load_rows(B, cols, MB, D, dd, True)
            if UPCAST:
                ac = ac.to(ACC)
                bc = bc.to(ACC)
            s = tl.dot(ac, tl.trans(bc), s, input_precision=PREC, out_dtype=ACC)
    return s


@_jit
def _masked(t, rows, cols, MB, EXB, exa, DIAG: tl.constexpr, HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr):
    """``t`` with ``-inf`` at the entries left out (columns past ``MB`` included)."""
    valid = cols[None, :] < MB
    if DIAG:
        valid = valid & (rows[:, None] != cols[None, :])
    if HAS_EXA:
        valid = valid & (cols[None, :] != exa[:, None])
    if HAS_EXB:
        exb = tl.load(EXB + cols, mask=cols < MB, other=-1)
        valid = valid & (rows[:, None] != exb[None, :])
    return tl.where(valid, t, float("-inf"))


@_jit
def _segments(
    r0, lo, hi, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, DIAG: tl.constexpr, MASK_ALL: tl.constexpr
):
    """Split the column range ``[lo, hi)`` (``lo`` a multiple of ``BLOCK_N``) into
    ``[lo, m0)`` plain, ``[m0, m1)`` masked, ``[m1, full)`` plain and ``[full, hi)`` masked:
    the masked parts are the tiles crossing the diagonal and the ragged last tile."""
    full = lo + ((hi - lo) // BLOCK_N) * BLOCK_N
    if MASK_ALL:
        m0 = lo
        m1 = full
    elif DIAG:
        m0 = tl.minimum(tl.maximum((r0 // BLOCK_N) * BLOCK_N, lo), full)
        m1 = tl.minimum(tl.maximum(tl.cdiv(r0 + BLOCK_M, BLOCK_N) * BLOCK_N, m0), full)
    else:
        m0 = full
        m1 = full
    return m0, m1, full


@_jit
def _fwd_tiles(
    m_i, l_i, a, A, B, EXB, exa, rows, lo, hi, MA, MB, D, scale,
    MASK: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ONE_D: tl.constexpr, ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr,
    DIAG: tl.constexpr, HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr,
):  # fmt: skip
    """Online max / sum (base 2) of the rows over the column tiles in ``[lo, hi)``."""
    for c0 in range(lo, hi, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        s = _scores(a, A, B, rows, cols, MA, MB, D, BLOCK_M, BLOCK_N, BLOCK_D, ONE_D, MASK, ACC, PREC, UPCAST)
        if MASK:
            s = _masked(s, rows, cols, MB, EXB, exa, DIAG, HAS_EXA, HAS_EXB)
        m_new = tl.maximum(m_i, tl.max(s, 1) * scale)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # a fully masked row so far
        p = tl.exp2(s * scale - m_safe[:, None])
        l_i = l_i * tl.exp2(m_i - m_safe) + tl.sum(p, 1)
        m_i = m_new
    return m_i, l_i


@_jit
def _row_block(EXA, TAU, MA, BLOCK_M: tl.constexpr, HAS_EXA: tl.constexpr, ACC: tl.constexpr):
    """This program's first row and ``BLOCK_M`` rows (``program_id(0)``), τ, the base-2 score
    scale ``log2(e)/τ`` and the rows' excluded columns (the rows themselves when unused)."""
    r0 = tl.program_id(0) * BLOCK_M
    rows = r0 + tl.arange(0, BLOCK_M)
    tau = tl.load(TAU).to(ACC)
    exa = rows
    if HAS_EXA:
        exa = tl.load(EXA + rows, mask=rows < MA, other=-1)
    return r0, rows, tau, LOG2E / tau, exa


@_jit
def _column_range(MB, SPLITS, BLOCK_N: tl.constexpr):
    """``[lo, hi)``: the columns of split ``program_id(1)`` of ``SPLITS`` (whole tiles but the last)."""
    per_split = tl.cdiv(tl.cdiv(MB, BLOCK_N), SPLITS) * BLOCK_N
    lo = tl.minimum(tl.program_id(1) * per_split, MB)
    return lo, tl.minimum(lo + per_split, MB)


@_jit
def _fwd_kernel(
    A, B, EXA, EXB, TAU, OUT, MA, MB, D, SPLITS, SIZE_KEY,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, ONE_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr,
    DIAG: tl.constexpr, HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr, MASK_ALL: tl.constexpr,
):  # fmt: skip
    """``OUT[split, i] = log2 Σ_{j in split} 2^(log2(e) a_i · b_j / τ)`` (the log-sum-exp in base 2)
    over the kept entries (``-inf`` for none; NaN when ``τ <= 0``). Grid ``(cdiv(MA, BLOCK_M), SPLITS)``."""
    r0, rows, tau, scale, exa = _row_block(EXA, TAU, MA, BLOCK_M, HAS_EXA, ACC)
    a = tl.zeros([BLOCK_M, BLOCK_D], ACC)
    if ONE_D:
        a = _load_rows(A, rows, MA, D, tl.arange(0, BLOCK_D), True)
        if UPCAST:
            a = a.to(ACC)
    lo, hi = _column_range(MB, SPLITS, BLOCK_N)
    m0, m1, full = _segments(r0, lo, hi, BLOCK_M, BLOCK_N, DIAG, MASK_ALL)
    m_i = tl.full([BLOCK_M], float("-inf"), ACC)
    l_i = tl.zeros([BLOCK_M], ACC)
    m_i, l_i = _fwd_tiles(
        m_i, l_i, a, A, B, EXB, exa, rows, lo, m0, MA, MB, D, scale, False,
        BLOCK_M, BLOCK_N, BLOCK_D, ONE_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB,
    )  # fmt: skip
    m_i, l_i = _fwd_tiles(
        m_i, l_i, a, A, B, EXB, exa, rows, m0, m1, MA, MB, D, scale, True,
        BLOCK_M, BLOCK_N, BLOCK_D, ONE_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB,
    )  # fmt: skip
    m_i, l_i = _fwd_tiles(
        m_i, l_i, a, A, B, EXB, exa, rows, m1, full, MA, MB, D, scale, False,
        BLOCK_M, BLOCK_N, BLOCK_D, ONE_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB,
    )  # fmt: skip
    m_i, l_i = _fwd_tiles(
        m_i, l_i, a, A, B, EXB, exa, rows, full, hi, MA, MB, D, scale, True,
        BLOCK_M, BLOCK_N, BLOCK_D, ONE_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB,
    )  # fmt: skip
    lse = tl.where(l_i > 0, m_i + tl.log2(tl.where(l_i > 0, l_i, 1.0)), float("-inf"))
    lse = tl.where(tau > 0, lse, float("nan"))
    tl.store(OUT + tl.program_id(1) * MA + rows, lse, mask=rows < MA)


@_jit
def _weights(
    s, rows, cols, MB, EXB, exa, scale, la, ga, ea, LB, GB, HB,
    MASK: tl.constexpr, SINGLE: tl.constexpr, DIAG: tl.constexpr, HAS_EXA: tl.constexpr,
    HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr, HAS_GB: tl.constexpr,
):  # fmt: skip
    """``w_ij = g^a_i 2^(t_ij - la_i) + g^b_j 2^(t_ij - lb_j)`` (``t = s · scale``; masked
    entries 0). ``la``, ``lb`` are base-2 log-sum-exps; ``ea_i = 2^(la_i - c)`` and
    ``hb_j = g^b_j 2^(c - lb_j)`` give the second term from the first (``SINGLE``)."""
    if MASK:
        s = _masked(s, rows, cols, MB, EXB, exa, DIAG, HAS_EXA, HAS_EXB)
    if HAS_GA:
        p = tl.exp2(s * scale - la[:, None])
        if SINGLE:
            hb = tl.load(HB + cols, mask=cols < MB, other=0.0)
            w = p * (ga[:, None] + ea[:, None] * hb[None, :])
        else:
            w = ga[:, None] * p
            if HAS_GB:
                lb = tl.load(LB + cols, mask=cols < MB, other=0.0)
                gb = tl.load(GB + cols, mask=cols < MB, other=0.0)
                w += gb[None, :] * tl.exp2(s * scale - lb[None, :])
    else:
        lb = tl.load(LB + cols, mask=cols < MB, other=0.0)
        gb = tl.load(GB + cols, mask=cols < MB, other=0.0)
        w = gb[None, :] * tl.exp2(s * scale - lb[None, :])
    return w


@_jit
def _bwd_tiles(
    acc, ws, a, B, EXB, exa, rows, lo, hi, MB, D, scale, la, ga, ea, LB, GB, HB,
    MASK: tl.constexpr, SINGLE: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr,
    DIAG: tl.constexpr, HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr,
    HAS_GB: tl.constexpr, NEED_TAU: tl.constexpr,
):  # fmt: skip
    """``acc += w @ B[cols]`` over the column tiles in ``[lo, hi)`` (scores recomputed) and,
    with ``NEED_TAU``, ``ws_i += Σ_j w_ij (a_i · b_j)`` (for the temperature gradient)."""
    dd = tl.arange(0, BLOCK_D)
    for c0 in range(lo, hi, BLOCK_N):
        cols = c0 + tl.arange(0, BLOCK_N)
        b = _load_rows(B, cols, MB, D, dd, MASK)
        if UPCAST:
            b = b.to(ACC)
        s = tl.dot(a, tl.trans(b), input_precision=PREC, out_dtype=ACC)
        w = _weights(
            s, rows, cols, MB, EXB, exa, scale, la, ga, ea, LB, GB, HB,
            MASK, SINGLE, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB,
        )  # fmt: skip
        if NEED_TAU:
            ws += tl.sum(w * s, 1)
        acc = tl.dot(w.to(b.dtype), b, acc, input_precision=PREC, out_dtype=ACC)
    return acc, ws


@_jit
def _bwd_all_tiles(
    acc, ws, a, B, EXB, exa, rows, r0, lo, hi, MB, D, scale, la, ga, ea, LB, GB, HB,
    SINGLE: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr,
    DIAG: tl.constexpr, HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr,
    HAS_GB: tl.constexpr, MASK_ALL: tl.constexpr, NEED_TAU: tl.constexpr,
):  # fmt: skip
    """``_bwd_tiles`` over ``[lo, hi)``, masks only where ``_segments`` says."""
    m0, m1, full = _segments(r0, lo, hi, BLOCK_M, BLOCK_N, DIAG, MASK_ALL)
    acc, ws = _bwd_tiles(
        acc, ws, a, B, EXB, exa, rows, lo, m0, MB, D, scale, la, ga, ea, LB, GB, HB, False, SINGLE,
        BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB, NEED_TAU,
    )  # fmt: skip
    acc, ws = _bwd_tiles(
        acc, ws, a, B, EXB, exa, rows, m0, m1, MB, D, scale, la, ga, ea, LB, GB, HB, True, SINGLE,
        BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB, NEED_TAU,
    )  # fmt: skip
    acc, ws = _bwd_tiles(
        acc, ws, a, B, EXB, exa, rows, m1, full, MB, D, scale, la, ga, ea, LB, GB, HB, False, SINGLE,
        BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB, NEED_TAU,
    )  # fmt: skip
    acc, ws = _bwd_tiles(
        acc, ws, a, B, EXB, exa, rows, full, hi, MB, D, scale, la, ga, ea, LB, GB, HB, True, SINGLE,
        BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB, NEED_TAU,
    )  # fmt: skip
    return acc, ws


@_jit
def _row_weights(LA, GA, EA, rows, MA, BLOCK_M: tl.constexpr, HAS_GA: tl.constexpr, ACC: tl.constexpr):
    """Per-row ``la``, ``g^a`` and ``ea`` (zeros past ``MA`` or when there is no row term)."""
    if HAS_GA:
        la = tl.load(LA + rows, mask=rows < MA, other=0.0).to(ACC)
        ga = tl.load(GA + rows, mask=rows < MA, other=0.0).to(ACC)
        ea = tl.load(EA + rows, mask=rows < MA, other=0.0).to(ACC)
    else:
        la = tl.zeros([BLOCK_M], ACC)
        ga = tl.zeros([BLOCK_M], ACC)
        ea = tl.zeros([BLOCK_M], ACC)
    return la, ga, ea


@_jit
def _bwd_kernel(
    A, B, EXA, EXB, LA, GA, EA, LB, GB, HB, TAU, FLAG, DA, DT, MA, MB, D, SPLITS, SIZE_KEY,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
    ACC: tl.constexpr, PREC: tl.constexpr, UPCAST: tl.constexpr, DIAG: tl.constexpr,
    HAS_EXA: tl.constexpr, HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr, HAS_GB: tl.constexpr,
    MASK_ALL: tl.constexpr, NEED_TAU: tl.constexpr,
):  # fmt: skip
    """``DA[split, i, :] = (1/τ) Σ_{j in split} w_ij b_j`` (fp32; fp64 for fp64), ``D == BLOCK_D``;
    with ``NEED_TAU``, ``DT[split, i] = Σ_{j in split} w_ij (a_i · b_j)``.
    ``FLAG`` (int32 scalar): 1 when the one-``exp2`` weights are exact enough (see module doc)."""
    r0, rows, tau, scale, exa = _row_block(EXA, TAU, MA, BLOCK_M, HAS_EXA, ACC)
    la, ga, ea = _row_weights(LA, GA, EA, rows, MA, BLOCK_M, HAS_GA, ACC)
    dd = tl.arange(0, BLOCK_D)
    a = _load_rows(A, rows, MA, D, dd, True)
    if UPCAST:
        a = a.to(ACC)
    lo, hi = _column_range(MB, SPLITS, BLOCK_N)
    pid_s = tl.program_id(1)
    acc = tl.zeros([BLOCK_M, BLOCK_D], ACC)
    ws = tl.zeros([BLOCK_M], ACC)
    single = False
    if HAS_GA and HAS_GB:
        single = tl.load(FLAG) != 0
    if single:
        acc, ws = _bwd_all_tiles(
            acc, ws, a, B, EXB, exa, rows, r0, lo, hi, MB, D, scale, la, ga, ea, LB, GB, HB, True,
            BLOCK_M, BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB,
            MASK_ALL, NEED_TAU,
        )  # fmt: skip
    else:
        acc, ws = _bwd_all_tiles(
            acc, ws, a, B, EXB, exa, rows, r0, lo, hi, MB, D, scale, la, ga, ea, LB, GB, HB, False,
            BLOCK_M, BLOCK_N, BLOCK_D, ACC, PREC, UPCAST, DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB,
            MASK_ALL, NEED_TAU,
        )  # fmt: skip
    out = DA + pid_s * MA * D + rows[:, None].to(tl.int64) * D + dd[None, :]
    tl.store(out, acc / tau, mask=rows[:, None] < MA)
    if NEED_TAU:
        tl.store(DT + pid_s * MA + rows, ws, mask=rows < MA)


@_jit
def _w_kernel(
    A, B, EXA, EXB, LA, GA, EA, LB, GB, HB, TAU, FLAG, W, DT, MA, MB, D, C0, CN, CW, SIZE_KEY,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, ACC: tl.constexpr,
    PREC: tl.constexpr, UPCAST: tl.constexpr, DIAG: tl.constexpr, HAS_EXA: tl.constexpr,
    HAS_EXB: tl.constexpr, HAS_GA: tl.constexpr, HAS_GB: tl.constexpr, NEED_TAU: tl.constexpr,
):  # fmt: skip
    """``W[i, j - C0] = w_ij / τ`` for the columns ``C0 <= j < C0 + CN`` (wide rows: the
    scores are summed over ``BLOCK_D`` chunks; ``W`` is ``[MA, CW]``, zeros past ``CN``); with
    ``NEED_TAU``, ``DT[pid_n, i] = Σ_{j in tile} w_ij (a_i · b_j)``.
    Grid ``(cdiv(MA, BLOCK_M), cdiv(CN, BLOCK_N))``."""
    _, rows, tau, scale, exa = _row_block(EXA, TAU, MA, BLOCK_M, HAS_EXA, ACC)
    pid_n = tl.program_id(1)
    cols = C0 + pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    end = tl.minimum(MB, C0 + CN)
    la, ga, ea = _row_weights(LA, GA, EA, rows, MA, BLOCK_M, HAS_GA, ACC)
    s = _scores(
        rows, A, B, rows, cols, MA, end, D, BLOCK_M, BLOCK_N, BLOCK_D, False, True, ACC, PREC, UPCAST
    )  # fmt: skip
    single = False
    if HAS_GA and HAS_GB:
        single = tl.load(FLAG) != 0
    if single:
        w = _weights(
            s, rows, cols, end, EXB, exa, scale, la, ga, ea, LB, GB, HB, True, True,
            DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB,
        )  # fmt: skip
    else:
        w = _weights(
            s, rows, cols, end, EXB, exa, scale, la, ga, ea, LB, GB, HB, True, False,
            DIAG, HAS_EXA, HAS_EXB, HAS_GA, HAS_GB,
        )  # fmt: skip
    out = W + rows[:, None].to(tl.int64) * CW + (cols - C0)[None, :]
    tl.store(out, (w / tau).to(W.dtype.element_ty), mask=rows[:, None] < MA)
    if NEED_TAU:
        tl.store(DT + pid_n * MA + rows, tl.sum(w * s, 1), mask=rows < MA)


@_jit
def _wb_kernel(
    W, B, DA, MA, MB, D, C0, CN, CW, SIZE_KEY,
    BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr, ACC: tl.constexpr,
    PREC: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``DA += W[:, :CN] @ B[C0 : C0 + CN]`` (``W`` is ``[MA, CW]``, ``DA`` ``[MA, D]`` in ``ACC``;
    each program owns one ``[BLOCK_M, BLOCK_D]`` tile: no atomics).
    Grid ``(cdiv(MA, BLOCK_M), D // BLOCK_D)``."""
    pid_m = tl.program_id(0)
    pid_d = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dd = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    out = DA + rows[:, None].to(tl.int64) * D + dd[None, :]
    acc = tl.load(out, mask=rows[:, None] < MA, other=0.0)
    for k0 in range(0, CN, BLOCK_K):
        kk = k0 + tl.arange(0, BLOCK_K)
        w = _load_rows(W + k0, rows, MA, CW, tl.arange(0, BLOCK_K), True)
        b = _load_rows(B + pid_d * BLOCK_D, C0 + kk, MB, D, tl.arange(0, BLOCK_D), True)
        if UPCAST:
            w = w.to(ACC)
            b = b.to(ACC)
        acc = tl.dot(w, b, acc, input_precision=PREC, out_dtype=ACC)
    tl.store(out, acc, mask=rows[:, None] < MA)
