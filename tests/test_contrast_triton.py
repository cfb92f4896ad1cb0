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


def assert_grads_close(got, want, rel: float = 1e-4) -> None:
    """Gradients agree to ``rel`` of their largest entry (fp32 roundoff grows with the logits)."""
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w.double(), rtol=rel, atol=rel * w.abs().max().item())


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
    for a, b in ((got, want), (got, tiled)):
        assert_close_all(a[0], b[0], **TOL32)
        assert_grads_close(a[1], b[1])


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


@pytest.mark.parametrize("columns", [False, True])
def test_cross_lse_exclude_leaves_out_one_entry_per_row(columns: bool) -> None:
    """Queries are rows 20..39 of 45 gathered keys; each leaves out itself (some rows: none)."""
    k = rand(45, 12, seed=40)
    q = k[20:40].clone()
    exclude = torch.arange(20, 40)
    exclude[::7] = -1
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


def test_cross_lse_mixed_dtypes_non_contiguous_and_duplicates() -> None:
    q = rand(9, 14, seed=26)[:, ::2]  # [9, 7] fp32, strided
    k = rand(7, 11, seed=27, dtype=F64).T  # [11, 7] fp64, transposed
    k = torch.cat([k, k[:3], q[:2].double()])  # duplicated keys, keys equal to queries
    g_row, g_col = rand(9, seed=28, dtype=F64), rand(16, seed=29, dtype=F64)
    got = value_and_grads(
        lambda a, b: triton_cross_logsumexp(a, b, 0.1, columns=True, block=16), [q, k], [g_row, g_col]
    )
    want = value_and_grads(lambda a, b: ref_cross_lse(a, b, 0.1), [q.double(), k], [g_row, g_col])
    assert got[0][0].dtype == F64  # promoted to the wider input
    assert got[1][0].dtype == torch.float32 and got[1][1].dtype == F64  # each input's own dtype
    assert_close_all(got[0], want[0], rtol=1e-6, atol=1e-6)
    assert_close_all(got[1], want[1], rtol=1e-5, atol=1e-5)


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
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), backend="triton")
