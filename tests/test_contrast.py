"""Contrast kernels against explicit per-row implementations of their formulas."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch.autograd import gradcheck

from sslcore.contrast import cross_view, info_nce, negative_cosine, nt_xent

F64 = torch.float64


# -- plain oracles: one Python loop per row, nothing shared with the kernels ------------
def unit(v: torch.Tensor) -> torch.Tensor:
    return v / torch.sqrt((v * v).sum())


def ref_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau) -> torch.Tensor:
    """(1/2N) sum_i -log( exp(s_i,p(i)) / sum_{j != i} exp(s_ij) ), s_ij = u_i.u_j / tau."""
    rows = [unit(r) for r in list(z1) + list(z2)]
    m, n = len(rows), len(z1)
    total = 0.0
    for i in range(m):
        partner = i + n if i < n else i - n
        denom = sum(torch.exp(torch.dot(rows[i], rows[j]) / tau) for j in range(m) if j != i)
        total = total - (torch.dot(rows[i], rows[partner]) / tau - torch.log(denom))
    return total / m


def ref_info_nce(q: torch.Tensor, k: torch.Tensor, negatives, tau) -> torch.Tensor:
    """(1/N) sum_i -log( e(q_i.k_i) / (e(q_i.k_i) + sum_{n in N_i} e(q_i.n)) ), e(x) = exp(x / tau)."""
    total = 0.0
    for i in range(len(q)):
        if negatives is None:
            negs = [k[j] for j in range(len(k)) if j != i]
        elif negatives.dim() == 2:
            negs = list(negatives)
        else:
            negs = list(negatives[i])
        qi = unit(q[i])
        pos = torch.exp(torch.dot(qi, unit(k[i])) / tau)
        neg = sum((torch.exp(torch.dot(qi, unit(v)) / tau) for v in negs), torch.zeros((), dtype=q.dtype))
        total = total - torch.log(pos / (pos + neg))
    return total / len(q)


def ref_negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    return -sum(torch.dot(unit(p[i]), unit(z[i])) for i in range(len(p))) / len(p)


def rand(*shape: int, seed: int = 0, dtype=F64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def leaf(t: torch.Tensor) -> torch.Tensor:
    return t.detach().clone().requires_grad_(True)


def assert_same_value_and_grads(kernel, oracle, inputs: list[torch.Tensor], **tol) -> None:
    """Kernel and oracle agree on the value and on the gradient w.r.t. every input."""
    a = [leaf(x) for x in inputs]
    b = [leaf(x) for x in inputs]
    out_k, out_r = kernel(*a), oracle(*b)
    assert out_k.dim() == 0
    torch.testing.assert_close(out_k, out_r.to(out_k.dtype), **tol)
    grads_k = torch.autograd.grad(out_k, a)
    grads_r = torch.autograd.grad(out_r, b)
    for gk, gr in zip(grads_k, grads_r):
        torch.testing.assert_close(gk, gr.to(gk.dtype), **tol)


SHAPES = [(1, 1), (1, 5), (4, 1), (2, 3), (5, 7)]
#: in-batch contrast needs N >= 2 (a single sample has no negatives: test_one_sample_has_no_negatives)
CONTRAST_SHAPES = [(n, d) for n, d in SHAPES if n >= 2]
# every implementation behind the signature must match the oracle
BACKENDS = ["reference", "tiled", "auto"]


# -- NT-Xent -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "d"), CONTRAST_SHAPES)
@pytest.mark.parametrize("tau", [0.1, 0.5, 2.0])
def test_nt_xent_matches_oracle_values_and_grads(n: int, d: int, tau: float, backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    assert_same_value_and_grads(
        lambda a, b: nt_xent_(a, b, temperature=tau),
        lambda a, b: ref_nt_xent(a, b, tau),
        [rand(n, d, seed=1), rand(n, d, seed=2)],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_nt_xent_duplicated_rows_and_identical_views(backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    z1 = rand(3, 4, seed=3)
    z1 = torch.cat([z1, z1[:1], z1[:1]])  # rows 0, 3 and 4 identical
    z2 = rand(5, 4, seed=4)
    assert_same_value_and_grads(
        lambda a, b: nt_xent_(a, b, 0.3), lambda a, b: ref_nt_xent(a, b, 0.3), [z1, z2]
    )
    assert_same_value_and_grads(
        lambda a, b: nt_xent_(a, b, 0.3), lambda a, b: ref_nt_xent(a, b, 0.3), [z1, z1.clone()]
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_nt_xent_non_contiguous_inputs(backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    z1 = rand(6, 5, seed=5).T  # [5, 6], transposed
    z2 = rand(5, 12, seed=6)[:, ::2]  # [5, 6], strided slice
    assert not z1.is_contiguous() and not z2.is_contiguous()
    torch.testing.assert_close(nt_xent_(z1, z2, 0.2), ref_nt_xent(z1, z2, 0.2))
    torch.testing.assert_close(nt_xent_(z1, z2, 0.2), nt_xent_(z1.contiguous(), z2.contiguous(), 0.2))


def test_nt_xent_is_invariant_to_row_scaling() -> None:
    z1, z2 = rand(4, 3, seed=7), rand(4, 3, seed=8)
    scale = torch.tensor([[0.5], [3.0], [10.0], [0.01]], dtype=F64)
    torch.testing.assert_close(nt_xent(z1 * scale, z2, 0.5), nt_xent(z1, z2, 0.5))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nt_xent_learnable_temperature_gets_the_oracle_gradient(backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    z1, z2 = rand(4, 3, seed=9), rand(4, 3, seed=10)
    tau = torch.tensor(0.4, dtype=F64)
    assert_same_value_and_grads(nt_xent_, ref_nt_xent, [z1, z2, tau])
    t = leaf(tau)
    nt_xent_(z1, z2, t).backward()
    assert t.grad is not None and t.grad.abs() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_nt_xent_gradcheck_float64(backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    inputs = (leaf(rand(3, 4, seed=11)), leaf(rand(3, 4, seed=12)), leaf(torch.tensor(0.7, dtype=F64)))
    assert gradcheck(lambda a, b, t: nt_xent_(a, b, t), inputs)
    assert gradcheck(lambda a, b: nt_xent_(a, b, 0.2), (leaf(rand(2, 1, seed=13)), leaf(rand(2, 1, seed=14))))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nt_xent_low_precision_inputs_accumulate_in_float32(backend: str) -> None:
    nt_xent_ = partial(nt_xent, backend=backend)
    z1, z2 = rand(6, 8, seed=15, dtype=torch.bfloat16), rand(6, 8, seed=16, dtype=torch.bfloat16)
    out = nt_xent_(z1, z2, 0.1)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), ref_nt_xent(z1.double(), z2.double(), 0.1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_kernels_compute_in_float32_under_bf16_autocast(backend: str) -> None:
    """The trainer runs forward under bf16 autocast; the kernels promise fp32 accumulation."""
    nt_xent_ = partial(nt_xent, backend=backend)
    info_nce_ = partial(info_nce, backend=backend)
    z1, z2, z3 = (
        rand(8, 16, seed=17, dtype=torch.float32),
        rand(8, 16, seed=18, dtype=torch.float32),
        rand(5, 16, seed=19, dtype=torch.float32),
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = [
            nt_xent_(z1, z2, 0.07),
            info_nce_(z1, z2, temperature=0.07),
            info_nce_(z1, z2, z3, temperature=0.07),
        ]
    exact = [
        ref_nt_xent(z1.double(), z2.double(), 0.07),
        ref_info_nce(z1.double(), z2.double(), None, 0.07),
        ref_info_nce(z1.double(), z2.double(), z3.double(), 0.07),
    ]
    for got, want in zip(low, exact):
        assert got.dtype == torch.float32
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-5)


# -- InfoNCE -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "d"), CONTRAST_SHAPES)
def test_info_nce_in_batch_matches_oracle(n: int, d: int, backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    assert_same_value_and_grads(
        lambda q, k: info_nce_(q, k, temperature=0.2),
        lambda q, k: ref_info_nce(q, k, None, 0.2),
        [rand(n, d, seed=20), rand(n, d, seed=21)],
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "k", "d"), [(1, 1, 1), (1, 4, 3), (3, 1, 2), (4, 6, 5)])
def test_info_nce_shared_queue_matches_oracle(n: int, k: int, d: int, backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    assert_same_value_and_grads(
        lambda q, key, neg: info_nce_(q, key, neg, temperature=0.3),
        lambda q, key, neg: ref_info_nce(q, key, neg, 0.3),
        [rand(n, d, seed=22), rand(n, d, seed=23), rand(k, d, seed=24)],
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("n", "k", "d"), [(1, 1, 1), (3, 2, 4), (4, 5, 3)])
def test_info_nce_per_query_negatives_match_oracle(n: int, k: int, d: int, backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    assert_same_value_and_grads(
        lambda q, key, neg: info_nce_(q, key, neg, temperature=0.5),
        lambda q, key, neg: ref_info_nce(q, key, neg, 0.5),
        [rand(n, d, seed=25), rand(n, d, seed=26), rand(n, k, d, seed=27)],
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_nce_shared_queue_equals_per_query_mode_with_the_queue_repeated(backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    q, k, queue = rand(4, 6, seed=28), rand(4, 6, seed=29), rand(7, 6, seed=30)
    a = [leaf(x) for x in (q, k, queue)]
    b = [leaf(x) for x in (q, k, queue)]
    shared = info_nce_(a[0], a[1], a[2], temperature=0.2)
    repeated = info_nce_(
        b[0], b[1], b[2].unsqueeze(0).expand(4, 7, 6), temperature=0.2
    )  # expand: non-contiguous
    torch.testing.assert_close(shared, repeated)
    for ga, gb in zip(torch.autograd.grad(shared, a), torch.autograd.grad(repeated, b)):
        torch.testing.assert_close(ga, gb)


def test_info_nce_in_batch_equals_explicit_other_keys() -> None:
    q, k = rand(4, 3, seed=31), rand(4, 3, seed=32)
    others = torch.stack([torch.stack([k[j] for j in range(4) if j != i]) for i in range(4)])  # [4, 3, 3]
    torch.testing.assert_close(info_nce(q, k, temperature=0.3), info_nce(q, k, others, temperature=0.3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_nce_duplicated_rows_and_non_contiguous_inputs(backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    q = rand(3, 5, seed=33)
    q = torch.cat([q, q[1:2]])
    k = rand(5, 8, seed=34).T[:4]  # [4, 5] non-contiguous
    queue = rand(10, 5, seed=36)[::2]  # [5, 5], every other row
    assert not k.is_contiguous() and not queue.is_contiguous()
    torch.testing.assert_close(info_nce_(q, k, queue, temperature=0.4), ref_info_nce(q, k, queue, 0.4))
    torch.testing.assert_close(info_nce_(q, k, temperature=0.4), ref_info_nce(q, k, None, 0.4))


@pytest.mark.parametrize("backend", BACKENDS)
def test_info_nce_learnable_temperature_and_gradcheck(backend: str) -> None:
    info_nce_ = partial(info_nce, backend=backend)
    q, k, neg = rand(3, 4, seed=37), rand(3, 4, seed=38), rand(3, 2, 4, seed=39)
    tau = torch.tensor(0.25, dtype=F64)
    assert_same_value_and_grads(
        lambda a, b, c, t: info_nce_(a, b, c, temperature=t), ref_info_nce, [q, k, neg, tau]
    )
    assert_same_value_and_grads(
        lambda a, b, t: info_nce_(a, b, None, temperature=t),
        lambda a, b, t: ref_info_nce(a, b, None, t),
        [q, k, tau],
    )
    assert gradcheck(
        lambda a, b, c, t: info_nce_(a, b, c, temperature=t), tuple(leaf(x) for x in (q, k, neg, tau))
    )
    assert gradcheck(
        lambda a, b, c: info_nce_(a, b, c, temperature=0.3),
        tuple(leaf(x) for x in (q, k, rand(5, 4, seed=40))),
    )
    assert gradcheck(lambda a, b: info_nce_(a, b, temperature=0.3), (leaf(q), leaf(k)))


@pytest.mark.parametrize(
    "shape",
    [(6, 5), (6,), (2, 6, 4), (3, 3, 4, 4), (2, 2, 2, 4)],
    ids=["K-d-wrong-d", "1-D", "N-wrong", "4-D", "4-D-b"],
)
def test_info_nce_rejects_bad_negatives_shape(shape: tuple[int, ...]) -> None:
    q, k = rand(3, 4, seed=41), rand(3, 4, seed=42)
    with pytest.raises(ValueError, match=r"info_nce: negatives must be \[K, 4\] or \[3, K, 4\]"):
        info_nce(q, k, rand(*shape, seed=43), temperature=0.07)


# -- negative cosine -----------------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), SHAPES)
def test_negative_cosine_matches_oracle(n: int, d: int) -> None:
    assert_same_value_and_grads(
        negative_cosine, ref_negative_cosine, [rand(n, d, seed=44), rand(n, d, seed=45)]
    )


def test_negative_cosine_is_minus_one_for_identical_and_plus_one_for_opposite_inputs() -> None:
    p = rand(5, 3, seed=46)
    torch.testing.assert_close(negative_cosine(p, p.clone()), torch.tensor(-1.0, dtype=F64))
    torch.testing.assert_close(negative_cosine(p, 4.0 * p), torch.tensor(-1.0, dtype=F64))
    torch.testing.assert_close(negative_cosine(p, -p), torch.tensor(1.0, dtype=F64))


def test_negative_cosine_gradients_and_stop_gradient() -> None:
    p, z = leaf(rand(4, 3, seed=47)), leaf(rand(4, 3, seed=48))
    assert gradcheck(negative_cosine, (p, z))
    negative_cosine(p, z.detach()).backward()
    assert p.grad is not None and z.grad is None
    # at the optimum (identical directions) the gradient w.r.t. p vanishes
    q = leaf(rand(4, 3, seed=49))
    (g,) = torch.autograd.grad(negative_cosine(q, 2.0 * q.detach()), q)
    torch.testing.assert_close(g, torch.zeros_like(g))


def test_negative_cosine_non_contiguous() -> None:
    p, z = rand(3, 4, seed=50).T, rand(4, 6, seed=51)[:, ::2]
    torch.testing.assert_close(negative_cosine(p, z), ref_negative_cosine(p, z))


# -- argument checks shared by all kernels -------------------------------------------
KERNELS = {
    "nt_xent": lambda a, b, **kw: nt_xent(a, b, **{"temperature": 0.5, **kw}),
    "info_nce": lambda a, b, **kw: info_nce(a, b, **{"temperature": 0.07, **kw}),
    "negative_cosine": lambda a, b, **kw: negative_cosine(a, b),
}


#: (shape of a, shape of b, the error message) for every kernel taking two [N, d] inputs
BAD_PAIR_SHAPES = [
    ((4, 3), (4, 2), r"must have the same shape, got \(4, 3\) and \(4, 2\)"),
    ((4, 3), (5, 3), r"must have the same shape, got \(4, 3\) and \(5, 3\)"),
    ((4,), (4,), r"must be 2-D \[N, d\], got shape \(4,\)"),
    ((2, 3, 4), (2, 3, 4), r"must be 2-D \[N, d\], got shape \(2, 3, 4\)"),
    ((0, 3), (0, 3), r"is empty \(shape \(0, 3\)\)"),
    ((3, 0), (3, 0), r"is empty \(shape \(3, 0\)\)"),
]


@pytest.mark.parametrize("name", list(KERNELS))
@pytest.mark.parametrize(("a", "b", "message"), BAD_PAIR_SHAPES)
def test_kernels_reject_bad_shapes(name: str, a, b, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: .*{message}"):
        KERNELS[name](torch.zeros(*a), torch.zeros(*b))


@pytest.mark.parametrize("name", ["nt_xent", "info_nce"])
@pytest.mark.parametrize(
    ("tau", "message"),
    [
        (0.0, "temperature must be > 0, got 0.0"),
        (-0.5, "temperature must be > 0, got -0.5"),
        (float("nan"), "temperature must be > 0, got nan"),
        (torch.tensor(0.0), "temperature must be > 0, got 0.0"),
        (torch.tensor(-1.0, requires_grad=True), "temperature must be > 0, got -1.0"),
        (torch.tensor([0.1, 0.2]), r"temperature must be a scalar, got shape \(2,\)"),
    ],
)
def test_kernels_reject_bad_temperature(name: str, tau, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: {message}"):
        KERNELS[name](torch.randn(3, 2), torch.randn(3, 2), temperature=tau)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("d", [1, 5])
def test_one_sample_has_no_negatives(backend: str, d: int) -> None:
    """N = 1: in-batch contrast would be a constant loss with zero gradient; it is refused by
    name. With explicit negatives (a queue) one query is fine."""
    a, b = rand(1, d, seed=54), rand(1, d, seed=55)
    for name, call in (
        ("nt_xent", lambda: nt_xent(a, b, 0.5, backend=backend)),
        ("info_nce", lambda: info_nce(a, b, temperature=0.07, backend=backend)),
        ("cross_view", lambda: cross_view(a, b, 0.07, backend=backend)),
    ):
        with pytest.raises(ValueError, match=rf"^{name}: \w+ has N=1 row; in-batch contrast needs N >= 2"):
            call()
    queue = rand(4, d, seed=56)
    torch.testing.assert_close(
        info_nce(a, b, queue, temperature=0.2, backend=backend),
        ref_info_nce(a, b, queue, 0.2),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("name", ["nt_xent", "info_nce"])
def test_kernels_reject_unknown_backend(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: backend must be .*'auto'.*got 'fastest'"):
        KERNELS[name](torch.randn(3, 2), torch.randn(3, 2), backend="fastest")
    # whatever "auto" picks on CPU computes the same loss as the reference
    a, b = rand(3, 2, seed=52), rand(3, 2, seed=53)
    torch.testing.assert_close(KERNELS[name](a, b, backend="reference"), KERNELS[name](a, b, backend="auto"))
