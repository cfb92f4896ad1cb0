"""Triton log-sum-exp kernels, run on CPU by the Triton interpreter, against per-row
oracles written here and against the tiled torch path (values and gradients)."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from torch.autograd import gradcheck

# the interpreter is chosen when triton is first imported: set the variable for that import,
# then restore it so that other test modules see the environment they were written for
_saved = os.environ.get("TRITON_INTERPRET")
_fresh = "triton" not in sys.modules
os.environ["TRITON_INTERPRET"] = "1"
try:
    pytest.importorskip("triton", reason="triton is not installed")
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction
finally:
    if _saved is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = _saved
if not isinstance(tl.zeros, InterpretedFunction):
    pytest.skip(
        "triton was imported before TRITON_INTERPRET=1 could be set "
        f"(first import here: {_fresh}); run: pytest tests/test_contrast_triton.py",
        allow_module_level=True,
    )

from sslcore.contrast.tiled import cross_logsumexp, self_logsumexp  # noqa: E402
from sslcore.contrast.triton_lse import triton_cross_logsumexp, triton_self_logsumexp  # noqa: E402

F64 = torch.float64


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiles here are tiny: torch's intra-op threads only spin-wait on a busy machine."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


# -- plain oracles: one row (or column) at a time, in float64 ------------------------------
def ref_self_lse(u: torch.Tensor, tau) -> torch.Tensor:
    """l_i = log sum_{j != i} exp(u_i . u_j / tau)."""
    u = u.double()
    others = [torch.cat([u[:i], u[i + 1 :]]) for i in range(len(u))]
    return torch.stack([torch.logsumexp(torch.mv(others[i], u[i]) / tau, 0) for i in range(len(u))])


def ref_cross_lse(q: torch.Tensor, k: torch.Tensor, tau, exclude=None) -> tuple[torch.Tensor, torch.Tensor]:
    """row_i = log sum_j exp(q_i . k_j / tau), col_j = log sum_i exp(q_i . k_j / tau), both
    over the pairs (i, j) with j != exclude[i]."""
    q, k = q.double(), k.double()
    keep = torch.ones(len(q), len(k), dtype=torch.bool)
    for i in range(len(q)):
        if exclude is not None and int(exclude[i]) >= 0:
            keep[i, int(exclude[i])] = False

    def lse(terms: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(terms, 0) if len(terms) else torch.tensor(float("-inf"), dtype=F64)

    row = [lse(torch.mv(k[keep[i]], q[i]) / tau) for i in range(len(q))]
    col = [lse(torch.mv(q[keep[:, j]], k[j]) / tau) for j in range(len(k))]
    return torch.stack(row), torch.stack(col)


def rand(*shape: int, seed: int, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64).to(dtype)


def unit_rows(x: torch.Tensor) -> torch.Tensor:
    return x / x.double().norm(dim=1, keepdim=True).to(x.dtype)


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


def value_and_grads(fn, inputs: list[torch.Tensor], cotangents: list[torch.Tensor]):
    """Outputs of ``fn(*inputs)`` and the gradient of ``sum_o <out_o, cot_o>`` w.r.t. each input."""
    xs = [leaf(x) for x in inputs]
    outs = fn(*xs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    loss = sum((o.double() * c).sum() for o, c in zip(outs, cotangents) if c is not None)
    return [o.detach() for o in outs], torch.autograd.grad(loss, xs)


def assert_close_all(got, want, **tol) -> None:
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w.double(), **tol)


def assert_grads_close(got, want, rel: float = 1e-4, tau_scale: float | None = None) -> None:
    """Gradients agree to ``rel`` of their largest entry (fp32 roundoff grows with the logits).

    With ``tau_scale`` the last gradient is the temperature's, a sum over all pairs that can
    cancel (signed cotangents): it must agree to 16 fp32 roundings of the sum of its terms'
    magnitudes, ``tau_scale`` (see :func:`tau_terms`)."""
    pairs = list(zip(got, want))
    if tau_scale is not None:
        (g, w), pairs = pairs[-1], pairs[:-1]
        torch.testing.assert_close(g.double(), w.double(), rtol=0, atol=16 * EPS32 * tau_scale)
    for g, w in pairs:
        torch.testing.assert_close(g.double(), w.double(), rtol=rel, atol=rel * w.abs().max().item())


EPS32 = torch.finfo(torch.float32).eps


def tau_terms(
    q: torch.Tensor, k: torch.Tensor, tau: float, g_row, g_col=None, diag=False, exclude=None
) -> float:
    """``(1/τ) Σ_ij |∂L/∂s_ij · s_ij|``: the size of the terms of the temperature gradient."""
    q, k = q.double(), k.double()
    s = q @ k.T / tau
    keep = torch.ones_like(s, dtype=torch.bool)
    if diag:
        keep.fill_diagonal_(False)
    if exclude is not None:
        for i, j in enumerate(exclude.tolist()):
            if j >= 0:
                keep[i, j] = False
    sm = s.masked_fill(~keep, float("-inf"))
    w = g_row[:, None] * torch.softmax(sm, 1).nan_to_num()
    if g_col is not None:
        w = w + g_col[None, :] * torch.softmax(sm, 0).nan_to_num()
    return float((w * s.masked_fill(~keep, 0)).abs().sum() / tau)


TOL32 = {"rtol": 2e-5, "atol": 2e-5}
SIZES = [(2, 1), (3, 5), (17, 7), (64, 32), (130, 16), (257, 8)]  # 17, 130, 257: ragged tiles


def block_for(m: int) -> int:
    return 16 if m < 64 else 32  # small tiles keep the interpreter fast


# -- self log-sum-exp -------------------------------------------------------------------
@pytest.mark.parametrize(("m", "d"), SIZES)
def test_self_lse_matches_oracle_and_tiled(m: int, d: int) -> None:
    u, tau = rand(m, d, seed=m + d), torch.tensor(0.3)
    g = rand(m, seed=7, dtype=F64)
    blk = block_for(m)
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=blk), [u, tau], [g])
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    tiled = value_and_grads(lambda x, t: self_logsumexp(x, t, block=13), [u, tau], [g])
    assert got[0][0].dtype == torch.float32 and got[1][0].dtype == torch.float32
    scale = tau_terms(u, u, 0.3, g, g, diag=True)
    for a, b in ((got, want), (got, tiled)):
        assert_close_all(a[0], b[0], **TOL32)
        assert_grads_close(a[1], b[1], tau_scale=scale)


def test_self_lse_single_row_is_minus_inf_with_zero_gradient() -> None:
    u = leaf(rand(1, 1, seed=1))
    out = triton_self_logsumexp(u, 0.5)
    assert out.shape == (1,) and out.item() == float("-inf")
    (du,) = torch.autograd.grad(out, u, torch.ones(1))
    assert du.shape == (1, 1) and du.item() == 0.0
    assert self_logsumexp(u.detach(), 0.5).item() == float("-inf")


def test_self_lse_chunks_wide_rows_and_splits_columns() -> None:
    """d = 40 in three 16-wide chunks (the last one ragged); columns split over programs."""
    u, tau = rand(37, 40, seed=3), torch.tensor(0.7)
    g = rand(37, seed=4, dtype=F64)
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    for splits in (1, 3):
        got = value_and_grads(
            lambda x, t, s=splits: triton_self_logsumexp(x, t, block=16, block_d=16, splits=s), [u, tau], [g]
        )
        assert_close_all(got[0], want[0], **TOL32)
        assert_grads_close(got[1], want[1])


def test_self_lse_float64_gradcheck() -> None:
    u, tau = leaf(rand(5, 3, seed=5, dtype=F64)), leaf(torch.tensor(0.4, dtype=F64))
    assert gradcheck(lambda x, t: triton_self_logsumexp(x, t, block=16), (u, tau))


def test_self_lse_float64_matches_tiled_to_float64_precision() -> None:
    u, tau = rand(33, 20, seed=6, dtype=F64), torch.tensor(0.2, dtype=F64)
    g = rand(33, seed=7, dtype=F64)
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
    tiled = value_and_grads(lambda x, t: self_logsumexp(x, t, block=8), [u, tau], [g])
    assert got[0][0].dtype == F64
    assert_close_all(got[0] + list(got[1]), tiled[0] + list(tiled[1]), rtol=1e-10, atol=1e-10)


def test_self_lse_temperature_001_does_not_overflow_in_float32() -> None:
    # unit rows give logits up to 100 and rows of norm 3 up to 900: exp overflows fp32 past 88
    for scale in (1.0, 3.0):
        u = unit_rows(rand(40, 9, seed=8)) * scale
        tau = torch.tensor(0.01)
        # cotangents of one sign: with mixed signs the tau gradient, a sum over rows (up to
        # ~6e5 on other seeds), can cancel to ~2e3, and its rounding error scales with the
        # terms, not with their sum
        g = rand(40, seed=9, dtype=F64).abs()
        got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
        want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
        assert all(torch.isfinite(x).all() for x in got[0] + list(got[1]))
        assert_close_all(got[0], want[0], rtol=1e-5, atol=1e-4)
        # fp32 logits of size S = scale^2 / tau carry a rounding error of order eps * S (which
        # ulp depends on the BLAS behind the interpreter's dot), and so, relatively, does each
        # softmax weight exp(s - l): compare the gradients to a few times that share of their
        # largest entry (over 12 seeds the error stays 8x below it)
        assert_grads_close(got[1], want[1], rel=4 * torch.finfo(torch.float32).eps * scale**2 / tau.item())


def test_self_lse_duplicated_rows() -> None:
    base = rand(6, 5, seed=10)
    u = torch.cat([base, base[:2], base[:1]])  # row 0 three times, row 1 twice
    tau, g = torch.tensor(0.25), rand(9, seed=11, dtype=F64)
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    assert_close_all(got[0], want[0], **TOL32)
    assert_grads_close(got[1], want[1])


def test_self_lse_non_contiguous_input_equals_contiguous() -> None:
    u = rand(12, 19, seed=12).T  # [19, 12]
    assert not u.is_contiguous()
    g = rand(19, seed=13, dtype=F64)
    a = value_and_grads(lambda x: triton_self_logsumexp(x, 0.5, block=16), [u], [g])
    b = value_and_grads(lambda x: triton_self_logsumexp(x, 0.5, block=16), [u.contiguous()], [g])
    assert_close_all(a[0] + list(a[1]), b[0] + list(b[1]), rtol=0, atol=0)
    assert_close_all(a[0], [ref_self_lse(u, 0.5)], **TOL32)
    # a mean() loss hands the kernel an expanded (stride-0) incoming gradient
    x, y = leaf(u), leaf(u.double())
    (gx,) = torch.autograd.grad(triton_self_logsumexp(x, 0.5, block=16).mean(), x)
    (gy,) = torch.autograd.grad(ref_self_lse(y, 0.5).mean(), y)
    torch.testing.assert_close(gx.double(), gy, **TOL32)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-3), (torch.bfloat16, 1e-2)])
def test_self_lse_low_precision_accumulates_in_float32(dtype: torch.dtype, tol: float) -> None:
    u, tau = unit_rows(rand(35, 24, seed=14)).to(dtype), torch.tensor(0.05)
    g = rand(35, seed=15, dtype=F64).abs()
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])  # exact, same rounded inputs
    assert got[0][0].dtype == torch.float32 and got[1][0].dtype == dtype
    assert_close_all(got[0], want[0], rtol=1e-5, atol=1e-4)  # fp32 accumulation: no fp16-sized error
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a.double(), b, rtol=tol, atol=tol * b.abs().max().item())


# -- cross log-sum-exp ------------------------------------------------------------------
CROSS = [(1, 1, 1), (3, 5, 4), (17, 40, 7), (64, 64, 32), (130, 20, 16), (257, 33, 8)]


@pytest.mark.parametrize("columns", [False, True])
@pytest.mark.parametrize(("nq", "nk", "d"), CROSS)
def test_cross_lse_matches_oracle_and_tiled(nq: int, nk: int, d: int, columns: bool) -> None:
    q, k, tau = rand(nq, d, seed=nq), rand(nk, d, seed=nk + 100), torch.tensor(0.2)
    g_row, g_col = rand(nq, seed=1, dtype=F64), rand(nk, seed=2, dtype=F64) if columns else None
    blk = block_for(max(nq, nk))
    got = value_and_grads(
        lambda a, b, t: triton_cross_logsumexp(a, b, t, columns=columns, block=blk),
        [q, k, tau],
        [g_row, g_col],
    )
    want = value_and_grads(ref_cross_lse, [q.double(), k.double(), tau.double()], [g_row, g_col])
    tiled = value_and_grads(
        lambda a, b, t: cross_logsumexp(a, b, t, columns=columns, block=11), [q, k, tau], [g_row, g_col]
    )
    if not columns:
        assert torch.isneginf(got[0][1]).all() and got[0][1].shape == (nk,)
        got, want, tiled = (([o[0]], gr) for o, gr in (got, want, tiled))
    for a, b in ((got, want), (got, tiled)):
        assert_close_all(a[0], b[0], **TOL32)
        assert_grads_close(a[1], b[1])


def test_cross_lse_small_batch_against_long_queue_with_splits_and_chunks() -> None:
    """MoCo's shape: few queries, many keys; split columns and a chunked, ragged d."""
    q, k, tau = rand(5, 40, seed=20), rand(150, 40, seed=21), torch.tensor(0.07)
    g_row, g_col = rand(5, seed=22, dtype=F64), rand(150, seed=23, dtype=F64)
    want = value_and_grads(ref_cross_lse, [q.double(), k.double(), tau.double()], [g_row, g_col])
    for splits in (1, 4):
        got = value_and_grads(
            lambda a, b, t, s=splits: triton_cross_logsumexp(a, b, t, True, block=32, block_d=16, splits=s),
            [q, k, tau],
            [g_row, g_col],
        )
        assert_close_all(got[0], want[0], **TOL32)
        assert_grads_close(got[1], want[1])


def gathered(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(q, k, exclude)``: queries are rows 20..39 of 45 gathered keys, each leaving out
    itself (every 7th: nothing)."""
    k = rand(45, d, seed=seed)
    exclude = torch.arange(20, 40)
    exclude[::7] = -1
    return k[20:40].clone(), k, exclude


@pytest.mark.parametrize("columns", [False, True])
def test_cross_lse_exclude_leaves_out_one_entry_per_row(columns: bool) -> None:
    q, k, exclude = gathered(12, seed=40)
    tau, g_row, g_col = torch.tensor(0.15), rand(20, seed=41, dtype=F64), rand(45, seed=42, dtype=F64)
    cot = [g_row, g_col if columns else None]
    n_out = 2 if columns else 1
    want = value_and_grads(
        lambda a, b, t: ref_cross_lse(a, b, t, exclude), [q.double(), k.double(), tau.double()], cot
    )
    tiled = value_and_grads(
        lambda a, b, t: cross_logsumexp(a, b, t, columns, block=16, exclude=exclude), [q, k, tau], cot
    )
    for splits in (1, 2):
        got = value_and_grads(
            lambda a, b, t, sp=splits: triton_cross_logsumexp(a, b, t, columns, 16, exclude, splits=sp),
            [q, k, tau],
            cot,
        )
        for other in (want, tiled):
            assert_close_all(got[0][:n_out], other[0][:n_out], **TOL32)
            assert_grads_close(got[1], other[1])


def test_cross_lse_fully_excluded_row_is_minus_inf_with_zero_gradient() -> None:
    q, k = leaf(rand(3, 4, seed=43)), leaf(rand(1, 4, seed=44))
    exclude = torch.tensor([0, -1, 0])
    row, col = triton_cross_logsumexp(q, k, 0.5, columns=True, block=16, exclude=exclude)
    want_row, want_col = ref_cross_lse(q.detach(), k.detach(), 0.5, exclude)
    assert torch.isneginf(row[[0, 2]]).all()
    assert_close_all([row[1], col], [want_row[1], want_col], **TOL32)
    dq, dk = torch.autograd.grad(row[1] + col.sum(), [q, k])
    assert dq[[0, 2]].abs().sum() == 0 and torch.isfinite(dq).all() and torch.isfinite(dk).all()


def test_cross_lse_float64_gradcheck() -> None:
    q, k = leaf(rand(3, 2, seed=24, dtype=F64)), leaf(rand(5, 2, seed=25, dtype=F64))
    tau = leaf(torch.tensor(0.6, dtype=F64))
    assert gradcheck(lambda a, b, t: triton_cross_logsumexp(a, b, t, columns=True, block=16), (q, k, tau))


def test_cross_lse_non_contiguous_and_duplicates() -> None:
    q = rand(9, 14, seed=26, dtype=F64)[:, ::2]  # [9, 7], strided
    k = rand(7, 11, seed=27, dtype=F64).T  # [11, 7], transposed
    k = torch.cat([k, k[:3], q[:2]])  # duplicated keys, keys equal to queries
    g_row, g_col = rand(9, seed=28, dtype=F64), rand(16, seed=29, dtype=F64)
    got = value_and_grads(
        lambda a, b: triton_cross_logsumexp(a, b, 0.1, columns=True, block=16), [q, k], [g_row, g_col]
    )
    want = value_and_grads(lambda a, b: ref_cross_lse(a, b, 0.1), [q, k], [g_row, g_col])
    assert got[0][0].dtype == F64 and got[1][0].dtype == F64 and got[1][1].dtype == F64
    assert_close_all(got[0], want[0], rtol=1e-10, atol=1e-10)
    assert_close_all(got[1], want[1], rtol=1e-10, atol=1e-10)


def test_cross_lse_temperature_001_float16_keys_do_not_overflow() -> None:
    q, k = unit_rows(rand(20, 16, seed=30)).half(), unit_rows(rand(25, 16, seed=31)).half()
    row, col = triton_cross_logsumexp(q, k, 0.01, columns=True, block=16)
    want = ref_cross_lse(q, k, 0.01)
    assert row.dtype == torch.float32 and torch.isfinite(row).all() and torch.isfinite(col).all()
    assert_close_all([row, col], want, rtol=1e-5, atol=1e-4)


# -- errors -------------------------------------------------------------------------------
def test_cpu_tensors_without_the_interpreter_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(ValueError, match="CUDA"):
        triton_self_logsumexp(rand(3, 2, seed=0), 0.5)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="power of two"):
        triton_self_logsumexp(rand(3, 2, seed=0), 0.5, block=24)
    with pytest.raises(ValueError, match="width"):
        triton_cross_logsumexp(rand(3, 2, seed=0), rand(3, 4, seed=0), 0.5)
    with pytest.raises(ValueError, match="2-D"):
        triton_self_logsumexp(rand(0, 2, seed=0), 0.5)
    with pytest.raises(ValueError, match="exclude"):
        triton_cross_logsumexp(
            rand(3, 2, seed=0), rand(4, 2, seed=0), 0.5, exclude=torch.zeros(4, dtype=torch.long)
        )


# -- the losses dispatch backend="triton" to these kernels ------------------------------------
def _losses():
    from sslcore.contrast import cross_view, info_nce, multi_positive, nt_xent

    labels = torch.tensor([0, 1, 0, 2, 1, 1, 3, 3, 0])
    queue = rand(11, 5, seed=40)
    return {
        "nt_xent": lambda a, b, be: nt_xent(a, b, 0.2, backend=be),
        "info_nce": lambda a, b, be: info_nce(a, b, temperature=0.1, backend=be),
        "info_nce_queue": lambda a, b, be: info_nce(a, b, queue, temperature=0.1, backend=be),
        "cross_view": lambda a, b, be: cross_view(a, b, 0.1, backend=be),
        "multi_positive": lambda a, b, be: multi_positive(a, labels, 0.3, backend=be),
    }


@pytest.mark.parametrize("name", ["nt_xent", "info_nce", "info_nce_queue", "cross_view", "multi_positive"])
def test_losses_with_triton_backend_match_reference(name: str) -> None:
    loss = _losses()[name]
    a, b = rand(9, 5, seed=41), rand(9, 5, seed=42)
    ta, tb = a.clone().requires_grad_(), b.clone().requires_grad_()
    ra, rb = a.clone().requires_grad_(), b.clone().requires_grad_()
    out_t, out_r = loss(ta, tb, "triton"), loss(ra, rb, "reference")
    torch.testing.assert_close(out_t, out_r, rtol=1e-5, atol=1e-6)
    out_t.backward()
    out_r.backward()
    torch.testing.assert_close(ta.grad, ra.grad, rtol=1e-4, atol=1e-6)
    if name != "multi_positive":
        torch.testing.assert_close(tb.grad, rb.grad, rtol=1e-4, atol=1e-6)


def test_triton_backend_on_cpu_without_interpreter_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from sslcore.contrast import nt_xent

    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(
        ValueError, match="backend 'triton' cannot run because its inputs are not CUDA tensors"
    ):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), 0.5, backend="triton")


# -- wide rows: chunked forward, weights + GEMM backward -------------------------------------
@pytest.mark.parametrize(("m", "d"), [(37, 40), (70, 33)])
def test_wide_rows_self_lse_matches_oracle(m: int, d: int) -> None:
    """``block_d < d`` takes the kernels for rows wider than the fused ones hold: d summed in
    16-wide chunks (the last ragged), the gradient through [M, chunk] weights and a GEMM over
    several column chunks."""
    u, tau = rand(m, d, seed=m), torch.tensor(0.6)
    g = rand(m, seed=m + 1, dtype=F64)
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16, block_d=16), [u, tau], [g])
    assert_close_all(got[0], want[0], **TOL32)
    assert_grads_close(got[1], want[1], tau_scale=tau_terms(u, u, 0.6, g, g, diag=True))


@pytest.mark.parametrize("columns", [False, True])
def test_wide_rows_cross_lse_with_exclude_matches_oracle(columns: bool) -> None:
    q, k, exclude = gathered(36, seed=60)
    tau, g_row, g_col = torch.tensor(0.5), rand(20, seed=61, dtype=F64), rand(45, seed=62, dtype=F64)
    cot = [g_row, g_col if columns else None]
    want = value_and_grads(
        lambda a, b, t: ref_cross_lse(a, b, t, exclude), [q.double(), k.double(), tau.double()], cot
    )
    got = value_and_grads(
        lambda a, b, t: triton_cross_logsumexp(a, b, t, columns, 16, exclude, block_d=16), [q, k, tau], cot
    )
    n_out = 2 if columns else 1
    assert_close_all(got[0][:n_out], want[0][:n_out], **TOL32)
    scale = tau_terms(q, k, 0.5, g_row, g_col if columns else None, exclude=exclude)
    assert_grads_close(got[1], want[1], tau_scale=scale)


def test_wide_rows_low_precision_matches_oracle_on_rounded_inputs() -> None:
    u, tau = unit_rows(rand(40, 48, seed=63)).bfloat16(), torch.tensor(0.1)
    g = rand(40, seed=64, dtype=F64).abs()
    got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16, block_d=16), [u, tau], [g])
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    assert got[1][0].dtype == torch.bfloat16
    assert_close_all(got[0], want[0], rtol=1e-5, atol=1e-4)
    # the weights are stored in bf16 for the GEMM: bf16-sized error, as the returned gradient
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a.double(), b, rtol=1e-2, atol=1e-2 * b.abs().max().item())


# -- the one-exp2 weights and their guard ---------------------------------------------------
def test_one_exp_weights_equal_two_exp_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    import sslcore.contrast.triton_lse as T

    u, tau, g = rand(50, 12, seed=65), torch.tensor(0.2), rand(50, seed=66, dtype=F64)
    one = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
    monkeypatch.setattr(T, "SINGLE_EXP_SPREAD", -1.0)  # every call takes the two-exp2 form
    two = value_and_grads(lambda x, t: triton_self_logsumexp(x, t, block=16), [u, tau], [g])
    want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
    scale = tau_terms(u, u, 0.2, g, g, diag=True)
    for got in (one, two):
        assert_close_all(got[0], want[0], **TOL32)
        assert_grads_close(got[1], want[1], tau_scale=scale)
    torch.testing.assert_close(one[1][0], two[1][0], rtol=1e-5, atol=1e-5 * two[1][0].abs().max().item())


def test_log_partitions_far_apart_take_the_exact_two_exp_form() -> None:
    """Rows of norm 1 and 4 at tau = 0.05: log-sum-exps ~20 and ~320 apart (hundreds of
    powers of two), where 2^(la - lb) overflows fp32; the guard switches to two exp2 per entry."""
    import sslcore.contrast.triton_lse as T

    u = unit_rows(rand(30, 6, seed=67)) * torch.tensor([1.0, 4.0]).repeat(15)[:, None]
    tau, g = torch.tensor(0.05), rand(30, seed=68, dtype=F64).abs()
    stats = (T._lse2(u, u, tau.reshape(1), T._plan(u, 30, 30, 16, None, 1), T._Mask(diag=True)), g.float())
    assert int(T._weights(stats, stats, tau.reshape(1)).flag) == 0
    got = value_and_grads(lambda x: triton_self_logsumexp(x, tau, block=16), [u], [g])
    want = value_and_grads(lambda x: ref_self_lse(x, 0.05), [u.double()], [g])
    assert all(torch.isfinite(x).all() for x in got[0] + list(got[1]))
    assert_close_all(got[0], want[0], rtol=1e-5, atol=1e-3)  # logits up to 320
    assert_grads_close(got[1], want[1], rel=4 * EPS32 * 320)


# -- determinism, skipped work, temperature-only gradients -----------------------------------
def test_repeated_runs_are_bit_identical() -> None:
    q, k = rand(40, 20, seed=69), rand(52, 20, seed=70)
    tau, g_row, g_col = torch.tensor(0.3), rand(40, seed=71, dtype=F64), rand(52, seed=72, dtype=F64)

    def run():
        out = value_and_grads(
            lambda a, b, t: triton_cross_logsumexp(a, b, t, True, block=16, splits=3),
            [q, k, tau],
            [g_row, g_col],
        )
        return out[0] + list(out[1])

    first, second = run(), run()
    for a, b in zip(first, second):
        assert torch.equal(a, b)


def test_keys_without_gradient_skip_their_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """MoCo's queue needs no gradient: the backward runs the query pass only."""
    import sslcore.contrast.triton_lse as T

    calls = []
    real = T._grad
    monkeypatch.setattr(T, "_grad", lambda *a, **kw: calls.append(a[0].shape) or real(*a, **kw))
    q, queue = leaf(rand(6, 8, seed=73)), rand(90, 8, seed=74)
    row, _ = triton_cross_logsumexp(q, queue, 0.2, block=16)
    (dq,) = torch.autograd.grad(row.sum(), q)
    assert [c[0] for c in calls] == [6]  # one pass, over the 6 query rows
    x = leaf(q.detach().double())
    (dq_want,) = torch.autograd.grad(ref_cross_lse(x, queue.double(), 0.2)[0].sum(), x)
    torch.testing.assert_close(dq.double(), dq_want, rtol=1e-5, atol=1e-6)


def test_temperature_only_gradient() -> None:
    q, k, tau = rand(12, 5, seed=75), rand(14, 5, seed=76), leaf(torch.tensor(0.4))
    row, col = triton_cross_logsumexp(q, k, tau, columns=True, block=16)
    (dtau,) = torch.autograd.grad(row.sum() + col.sum(), tau)
    t = leaf(torch.tensor(0.4, dtype=F64))
    r, c = ref_cross_lse(q.double(), k.double(), t)
    (want,) = torch.autograd.grad(r.sum() + c.sum(), t)
    torch.testing.assert_close(dtau.double(), want, rtol=1e-5, atol=1e-6)


# -- precision switch ---------------------------------------------------------------------
def test_fp32_precision_switch_reaches_the_kernel_plan() -> None:
    import sslcore.contrast.triton_lse as T
    from sslcore.contrast.precision import fp32_precision, get_fp32_precision, set_fp32_precision

    x = rand(8, 4, seed=77)
    assert get_fp32_precision() == "tf32" and T._plan(x, 8, 8, None, None, None).prec == "tf32"
    with fp32_precision("ieee"):
        assert T._plan(x, 8, 8, None, None, None).prec == "ieee"
    assert T._plan(x, 8, 8, None, None, None).prec == "tf32"
    for dtype in (torch.bfloat16, F64):  # not fp32: no tf32 question
        assert T._plan(x.to(dtype), 8, 8, None, None, None).prec == "ieee"
    with pytest.raises(ValueError, match="fp32 precision must be one of 'tf32', 'ieee', got 'fp16'"):
        set_fp32_precision("fp16")


# -- bad input ------------------------------------------------------------------------------
def test_bad_inputs_name_the_argument() -> None:
    q, k = rand(4, 3, seed=78), rand(5, 3, seed=79)
    cases = [
        (
            lambda: triton_cross_logsumexp(q, k.double(), 0.5),
            r"q is torch.float32 but k is torch.float64; cast",
        ),
        (lambda: triton_cross_logsumexp(q, k.to("meta"), 0.5), r"q is on cpu but k is on meta; move"),
        (
            lambda: triton_cross_logsumexp(q, k[:, :2], 0.5),
            r"q and k must have the same width d, got 3 and 2",
        ),
        (
            lambda: triton_self_logsumexp(q[:, :0], 0.5),
            r"u must be a non-empty 2-D \[N, d\] tensor, got shape \(4, 0\)",
        ),
        (
            lambda: triton_self_logsumexp(q.long(), 0.5),
            r"u must be float16, bfloat16, float32 or float64, got torch.int64",
        ),
        (lambda: triton_self_logsumexp(q, 0.0), r"temperature must be > 0, got 0.0"),
        (lambda: triton_self_logsumexp(q, -1.0), r"temperature must be > 0, got -1.0"),
        (lambda: triton_self_logsumexp(q, torch.tensor(-0.5)), r"temperature must be > 0, got -0.5"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kernel_returns_nan_for_a_nonpositive_temperature() -> None:
    """A temperature on the GPU is checked without a sync, one call late: meanwhile the
    kernel's output is NaN (which the trainer's NaN guard stops), never a silently wrong loss."""
    import sslcore.contrast.triton_lse as T

    u = rand(20, 4, seed=80)
    plan = T._plan(u, 20, 20, 16, None, 1)
    for tau in (0.0, -0.5):
        assert torch.isnan(T._lse2(u, u, torch.tensor([tau]), plan, T._Mask(diag=True))).all()


def test_deferred_checks_raise_at_the_next_call_once_the_flag_arrives() -> None:
    from sslcore.contrast._checks import DeferredChecks

    class Event:  # stands for a CUDA event
        def __init__(self) -> None:
            self.done = False

        def query(self) -> bool:
            return self.done

        def synchronize(self) -> None:
            self.done = True

    checks = DeferredChecks(max_pending=3)
    good, bad = Event(), Event()
    checks._pending.extend([(torch.tensor(True), good, "first"), (torch.tensor(False), bad, "tau <= 0")])
    checks.poll()  # nothing has arrived: no error, nothing dropped
    assert len(checks._pending) == 2
    good.done = bad.done = True
    with pytest.raises(ValueError, match="tau <= 0"):
        checks.check(torch.tensor(True), "unused")
    assert not checks._pending
    slow = Event()
    checks._pending.extend(
        [
            (torch.tensor(False), slow, "late"),
            (torch.tensor(True), Event(), "a"),
            (torch.tensor(True), Event(), "b"),
        ]
    )
    with pytest.raises(ValueError, match="late"):  # a full queue waits for its oldest flag
        checks.poll()
    with pytest.raises(ValueError, match="cpu flags at once"):
        checks.check(torch.tensor([True, False]), "cpu flags at once")


# -- half-precision inputs reach the kernels in their own dtype ------------------------------------
@pytest.mark.parametrize("name", ["nt_xent", "info_nce", "cross_view", "multi_positive"])
def test_losses_pass_half_inputs_to_the_kernel_in_their_dtype(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sslcore.contrast.triton_lse as T

    seen = []
    real = T._prepare
    monkeypatch.setattr(
        T, "_prepare", lambda n, xs, t: seen.extend(x.dtype for x in xs.values()) or real(n, xs, t)
    )
    loss = _losses()[name]
    a, b = rand(9, 5, seed=81, dtype=torch.bfloat16), rand(9, 5, seed=82, dtype=torch.bfloat16)
    ta, tb = leaf(a), leaf(b)
    out = loss(ta, tb, "triton")
    assert seen and set(seen) == {torch.bfloat16} and out.dtype == torch.float32
    # the reference on the same bf16-rounded unit rows, in float64
    ra, rb = leaf(a.double()), leaf(b.double())
    want = loss(ra, rb, "reference")
    torch.testing.assert_close(out.double(), want, rtol=2e-2, atol=2e-2)
    out.backward()
    want.backward()
    assert ta.grad.dtype == torch.bfloat16
    torch.testing.assert_close(ta.grad.double(), ra.grad, rtol=5e-2, atol=5e-2 * ra.grad.abs().max().item())


# -- the autotuned launch path (CUDA's), driven on the interpreter -----------------------------
@pytest.mark.parametrize("winner", ["first", "last"])
def test_autotuned_launches_match_the_oracle(winner: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch path CUDA takes: each kernel's candidates from ``triton_configs`` timed by
    the autotuner, every candidate run twice (as benchmarking does), then the winner: the
    GEMM's accumulator must be restored and the weights' temperature sums zeroed between
    runs, or the result would count some terms several times."""
    import sslcore.contrast.triton_lse as T

    runs = []

    def bench(kernel_call, quantiles=None):
        kernel_call()
        kernel_call()
        runs.append(1)
        return [float(len(runs) if winner == "first" else -len(runs))] * 3

    monkeypatch.setattr(T, "_CPU_AUTOTUNE_BENCH", bench)
    monkeypatch.setattr(T, "_TUNED", {})
    for d, dtype in ((24, torch.float32), (300, torch.bfloat16)):  # fused; wide rows (weights + GEMM)
        u = unit_rows(rand(70, d, seed=d)).to(dtype)
        tau, g = torch.tensor(0.2), rand(70, seed=d + 1, dtype=F64)
        got = value_and_grads(lambda x, t: triton_self_logsumexp(x, t), [u, tau], [g])
        want = value_and_grads(ref_self_lse, [u.double(), tau.double()], [g])
        tol = 1e-5 if dtype == torch.float32 else 1e-2
        assert_close_all(got[0], want[0], rtol=tol, atol=tol)
        assert_grads_close(got[1], want[1], rel=tol)
    assert runs and {k[0] for k in T._TUNED} == {"fwd", "bwd", "fwd_wide", "w", "wb"}


@pytest.mark.parametrize("d", [1, 17, 255, 257, 2000, 2048])
def test_any_width_up_to_2048(d: int) -> None:
    """Default tiles: rows up to 256 wide (bf16) are held whole, wider ones are zero-padded to
    a multiple of 128 and summed in chunks; both match the oracle."""
    u = unit_rows(rand(24, d, seed=d)).bfloat16()
    g = rand(24, seed=d + 1, dtype=F64).abs()
    got = value_and_grads(lambda x: triton_self_logsumexp(x, 0.1), [u], [g])
    want = value_and_grads(lambda x: ref_self_lse(x, 0.1), [u.double()], [g])
    assert got[1][0].shape == (24, d) and got[1][0].dtype == torch.bfloat16
    assert_close_all(got[0], want[0], rtol=1e-5, atol=1e-4)
    for a, b in zip(got[1], want[1]):
        torch.testing.assert_close(a.double(), b, rtol=1e-2, atol=1e-2 * b.abs().max().item())


def test_size_key_groups_sizes_by_power_of_two_and_never_specialises() -> None:
    from sslcore.contrast.triton_lse import size_key

    assert size_key(1000, 70) == size_key(1024, 65) != size_key(1025, 65)
    assert size_key(8, 8) != size_key(8, 9)
    keys = {size_key(m, n) for m in (1, 2, 17, 4096, 131072) for n in (1, 3, 65536)}
    assert all(k % 2 == 1 and k > 1 for k in keys)  # Triton specialises ints == 1 or % 16 == 0
