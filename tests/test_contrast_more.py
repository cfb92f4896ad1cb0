"""SwAV/Sinkhorn, Barlow Twins, VICReg, MI estimators, alignment/uniformity, the momentum
updater and the negative queue, against plain per-row / per-element oracles."""

from __future__ import annotations

import io
import math
from collections import deque

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import gradcheck

from sslcore.contrast.alignment_uniformity import alignment, uniformity
from sslcore.contrast.barlow_twins import barlow_twins
from sslcore.contrast.info_nce import info_nce
from sslcore.contrast.momentum import (
    MomentumUpdater,
    cosine_momentum,
    ema_update,
    momentum_copy,
)
from sslcore.contrast.mutual_information import bce_mi, jsd_mi
from sslcore.contrast.queue import NegativeQueue
from sslcore.contrast.swav import sinkhorn_knopp, swav_loss
from sslcore.contrast.vicreg import VICRegTerms, vicreg, vicreg_terms
from tests.test_contrast import BAD_PAIR_SHAPES, assert_same_value_and_grads, leaf, rand, unit

F64 = torch.float64
BF16 = torch.bfloat16


# -- plain oracles: Python loops over rows / elements, nothing shared with the kernels --
def softplus(x: torch.Tensor) -> torch.Tensor:
    return torch.log(1 + torch.exp(x))


def ref_sinkhorn(scores: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    """SwAV's reference ``distributed_sinkhorn`` on one process, element by element in
    Python floats (float64): Q = exp(S/eps) / sum, then per iteration prototype
    marginals to 1/K and sample marginals to 1/B, finally times B."""
    b, k = scores.shape
    q = [[math.exp(float(scores[i, j]) / eps) for j in range(k)] for i in range(b)]
    total = sum(sum(row) for row in q)
    q = [[x / total for x in row] for row in q]
    for _ in range(iters):
        for j in range(k):
            col = sum(q[i][j] for i in range(b))
            for i in range(b):
                q[i][j] /= col * k
        for i in range(b):
            row = sum(q[i])
            q[i] = [x / (row * b) for x in q[i]]
    return torch.tensor([[x * b for x in row] for row in q], dtype=F64)


def ref_swav(views, assign, tau, eps, iters, queues=None) -> torch.Tensor:
    """(1/|A|) sum_a (1/(V-1)) sum_{v != a} (1/B) sum_b -sum_k q^a_bk log softmax(s^v_b / tau)_k."""
    n_views, (b, k) = len(views), views[0].shape
    total = 0.0
    for i, a in enumerate(assign):
        s = views[a].detach()
        if queues is not None and queues[i] is not None:
            s = torch.cat([queues[i], s])
        q = ref_sinkhorn(s, eps, iters)[-b:].to(views[0].dtype)
        sub = 0.0
        for v in range(n_views):
            if v == a:
                continue
            for r in range(b):
                row = views[v][r] / tau
                log_norm = torch.log(sum(torch.exp(row[j]) for j in range(k)))
                sub = sub - sum(q[r, j] * (row[j] - log_norm) for j in range(k)) / b
        total = total + sub / (n_views - 1)
    return total / len(assign)


def ref_barlow(z1: torch.Tensor, z2: torch.Tensor, lam: float, eps: float = 1e-5) -> torch.Tensor:
    """sum_i (1 - C_ii)^2 + lam sum_{i != j} C_ij^2, C_ij = (1/N) sum_b zhat1_bi zhat2_bj,
    zhat = (z - mean) / sqrt(biased var + eps) per feature."""
    n, d = z1.shape

    def standardised(z: torch.Tensor, j: int) -> list[torch.Tensor]:
        col = [z[b, j] for b in range(n)]
        mean = sum(col) / n
        var = sum((x - mean) ** 2 for x in col) / n
        return [(x - mean) / torch.sqrt(var + eps) for x in col]

    a = [standardised(z1, j) for j in range(d)]
    c = [standardised(z2, j) for j in range(d)]
    loss = 0.0
    for i in range(d):
        for j in range(d):
            cij = sum(a[i][b] * c[j][b] for b in range(n)) / n
            loss = loss + ((1 - cij) ** 2 if i == j else lam * cij**2)
    return loss


def ref_vicreg_terms(z1: torch.Tensor, z2: torch.Tensor, gamma: float, eps: float):
    n, d = z1.shape
    inv = sum((z1[b, j] - z2[b, j]) ** 2 for b in range(n) for j in range(d)) / (n * d)

    def var_term(z: torch.Tensor) -> torch.Tensor:
        total = 0.0
        for j in range(d):
            mean = sum(z[b, j] for b in range(n)) / n
            std = torch.sqrt(sum((z[b, j] - mean) ** 2 for b in range(n)) / (n - 1) + eps)
            total = total + torch.clamp(gamma - std, min=0)
        return total / d

    def cov_term(z: torch.Tensor) -> torch.Tensor:
        means = [sum(z[b, j] for b in range(n)) / n for j in range(d)]
        total = 0 * z.sum()  # stays in the graph when d = 1
        for i in range(d):
            for j in range(d):
                if i != j:
                    cov = sum((z[b, i] - means[i]) * (z[b, j] - means[j]) for b in range(n)) / (n - 1)
                    total = total + cov**2
        return total / d

    return inv, 0.5 * (var_term(z1) + var_term(z2)), cov_term(z1) + cov_term(z2)


def ref_jsd(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    p, n = list(pos.reshape(-1)), list(neg.reshape(-1))
    return sum(softplus(-t) for t in p) / len(p) + sum(softplus(t) for t in n) / len(n)


def ref_bce(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    p, n = list(pos.reshape(-1)), list(neg.reshape(-1))
    return (sum(softplus(-t) for t in p) + sum(softplus(t) for t in n)) / (len(p) + len(n))


def ref_alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> torch.Tensor:
    total = 0.0
    for i in range(len(z1)):
        diff = unit(z1[i]) - unit(z2[i])
        total = total + torch.linalg.vector_norm(diff) ** alpha  # subgradient 0 at diff = 0
    return total / len(z1)


def ref_uniformity(z: torch.Tensor, t: float) -> torch.Tensor:
    rows = [unit(r) for r in z]
    terms = [
        torch.exp(-t * ((rows[i] - rows[j]) ** 2).sum())
        for i in range(len(rows))
        for j in range(i + 1, len(rows))
    ]
    return torch.log(sum(terms) / len(terms))


def touch(views) -> torch.Tensor:
    """0 * sum: keeps a view that is only assigned (never predicted, so it has a zero
    gradient) in the graph, so that autograd.grad can be asked about it."""
    return 0 * sum(v.sum() for v in views)


# -- Sinkhorn-Knopp -------------------------------------------------------------------
@pytest.mark.parametrize(("b", "k"), [(1, 1), (1, 4), (5, 1), (4, 3), (6, 8)])
@pytest.mark.parametrize(("eps", "iters"), [(0.05, 1), (0.05, 3), (0.5, 10)])
def test_sinkhorn_matches_reference_algorithm(b: int, k: int, eps: float, iters: int) -> None:
    s = rand(b, k, seed=b * 10 + k)
    q = sinkhorn_knopp(s, eps, iters)
    assert q.shape == (b, k) and q.dtype == F64 and not q.requires_grad
    torch.testing.assert_close(q, ref_sinkhorn(s, eps, iters))


def test_sinkhorn_marginals_converge_to_the_swav_normalisation() -> None:
    b, k = 12, 4
    s = rand(b, k, seed=1)
    q = sinkhorn_knopp(s, epsilon=0.5, iterations=200) / b  # undo the final rescale by B
    torch.testing.assert_close(q.sum(1), torch.full((b,), 1 / b, dtype=F64))  # exactly, last step
    torch.testing.assert_close(q.sum(0), torch.full((k,), 1 / k, dtype=F64), rtol=1e-6, atol=1e-8)
    # after the rescale: each row is a distribution, each prototype gets B/K samples
    q = sinkhorn_knopp(s, epsilon=0.5, iterations=200)
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(1), torch.ones(b, dtype=F64))
    torch.testing.assert_close(q.sum(0), torch.full((k,), b / k, dtype=F64), rtol=1e-6, atol=1e-6)


def test_sinkhorn_equal_partition_on_degenerate_input() -> None:
    # every sample prefers prototype 0 by the same margin: identical rows -> uniform codes
    s = torch.tensor([[5.0, 0.0, 0.0, -1.0]], dtype=F64).expand(6, 4)
    torch.testing.assert_close(sinkhorn_knopp(s, 0.05, 3), torch.full((6, 4), 0.25, dtype=F64))
    # all equal scores
    torch.testing.assert_close(sinkhorn_knopp(torch.zeros(3, 5), 0.05, 1), torch.full((3, 5), 0.2))
    # almost collapsed: all samples prefer prototype 0, slightly differently; the codes
    # still spread the batch over all prototypes (argmax would put everyone on 0)
    s = torch.zeros(4, 4, dtype=F64)
    s[:, 0] = 1.0
    s += 0.05 * torch.eye(4, dtype=F64)
    q = sinkhorn_knopp(s, 0.05, 100)
    torch.testing.assert_close(q.sum(0), torch.ones(4, dtype=F64), rtol=1e-4, atol=1e-4)
    assert q.argmax(1).tolist() == [0, 1, 2, 3]


def test_sinkhorn_is_shift_invariant_and_does_not_overflow() -> None:
    s = rand(5, 3, seed=2)
    big = sinkhorn_knopp(s.float() + 1000.0, 0.05, 3)  # exp(20000) would overflow a naive version
    assert torch.isfinite(big).all()
    torch.testing.assert_close(big, sinkhorn_knopp(s.float(), 0.05, 3), rtol=1e-4, atol=1e-5)


def test_sinkhorn_low_precision_non_contiguous_and_bad_args() -> None:
    s = rand(4, 6, seed=3, dtype=BF16)
    q = sinkhorn_knopp(s, 0.1, 3)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    torch.testing.assert_close(q.double(), ref_sinkhorn(s.double(), 0.1, 3), rtol=1e-5, atol=1e-6)
    t = rand(6, 4, seed=4).T  # [4, 6], transposed
    assert not t.is_contiguous()
    torch.testing.assert_close(sinkhorn_knopp(t, 0.1, 3), ref_sinkhorn(t, 0.1, 3))
    x = leaf(rand(3, 2, seed=5))
    assert not sinkhorn_knopp(x).requires_grad
    with pytest.raises(ValueError, match=r"^sinkhorn_knopp: scores must be 2-D \[B, K\]"):
        sinkhorn_knopp(torch.zeros(4))
    with pytest.raises(ValueError, match=r"^sinkhorn_knopp: scores is empty"):
        sinkhorn_knopp(torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"^sinkhorn_knopp: epsilon must be > 0, got 0.0"):
        sinkhorn_knopp(torch.zeros(2, 3), epsilon=0.0)
    with pytest.raises(ValueError, match=r"^sinkhorn_knopp: iterations must be an int >= 1, got 0"):
        sinkhorn_knopp(torch.zeros(2, 3), iterations=0)


# -- SwAV ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("n_views", "b", "k", "assign"),
    [
        (2, 1, 1, (0, 1)),
        (2, 1, 3, (0, 1)),
        (2, 4, 1, (0,)),
        (2, 4, 3, (0, 1)),
        (4, 3, 5, (0, 1)),
        (3, 5, 2, (2,)),
    ],
)
def test_swav_matches_oracle_values_and_grads(n_views: int, b: int, k: int, assign) -> None:
    views = [rand(b, k, seed=20 + v) for v in range(n_views)]
    assert_same_value_and_grads(
        lambda *vs: swav_loss(vs, assign, temperature=0.1, epsilon=0.05, iterations=3) + touch(vs),
        lambda *vs: ref_swav(vs, assign, 0.1, 0.05, 3) + touch(vs),
        views,
    )


def test_swav_with_queue_matches_oracle() -> None:
    views = [rand(3, 4, seed=30), rand(3, 4, seed=31), rand(3, 4, seed=32)]
    queues = [rand(5, 4, seed=33), None]
    assert_same_value_and_grads(
        lambda *vs: swav_loss(vs, (0, 1), 0.2, 0.1, 3, queue_scores=queues),
        lambda *vs: ref_swav(vs, (0, 1), 0.2, 0.1, 3, queues),
        views,
    )
    # the queue changes the codes, hence the loss
    assert not torch.isclose(
        swav_loss(views, (0, 1), 0.2, 0.1, 3, queues), swav_loss(views, (0, 1), 0.2, 0.1, 3)
    )


def test_swav_codes_carry_no_gradient_and_gradcheck_of_the_predictions() -> None:
    v0, v1, v2 = leaf(rand(4, 3, seed=40)), leaf(rand(4, 3, seed=41)), leaf(rand(4, 3, seed=42))
    swav_loss([v0, v1], (0,)).backward()  # view 0 is only a target
    assert v0.grad is None and v1.grad is not None
    # the gradient w.r.t. predicted-only views is the exact derivative (codes held fixed)
    assert gradcheck(lambda a, b: swav_loss([v0.detach(), a, b], (0,), 0.3), (v1, v2))
    # learnable temperature gets a gradient
    tau = torch.tensor(0.2, dtype=F64, requires_grad=True)
    swav_loss([v0, v1, v2], (0, 1), tau).backward()
    assert tau.grad is not None and torch.isfinite(tau.grad)


def test_swav_low_precision_mixed_dtype_and_non_contiguous() -> None:
    views = [rand(5, 4, seed=50, dtype=BF16), rand(5, 4, seed=51, dtype=BF16)]
    out = swav_loss(views)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    exact = ref_swav([v.double() for v in views], (0, 1), 0.1, 0.05, 3)
    torch.testing.assert_close(out.double(), exact, rtol=1e-4, atol=1e-4)
    mixed = swav_loss([views[0], views[1].float()])
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, out)
    with torch.autocast("cpu", dtype=BF16):
        auto = swav_loss([v.float() for v in views])
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, out)
    a, b = rand(4, 5, seed=52).T, rand(5, 8, seed=53)[:, ::2]  # [5, 4] both non-contiguous
    torch.testing.assert_close(swav_loss([a, b]), ref_swav([a, b], (0, 1), 0.1, 0.05, 3))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scores_views": [torch.zeros(3, 2)]}, r"needs at least 2 views \(V >= 2\), got 1"),
        ({"scores_views": [torch.zeros(3, 2), torch.zeros(3, 4)]}, r"same shape \[B, K\], got \(3, 2\)"),
        ({"scores_views": [torch.zeros(3, 2), torch.zeros(3, 2, device="meta")]}, "is on meta"),
        ({"scores_views": [torch.zeros(3), torch.zeros(3)]}, r"scores_views\[0\] must be 2-D"),
        ({"assign_views": (0, 2)}, r"assign_views must be distinct view indices in \[0, 2\)"),
        ({"assign_views": (1, 1)}, "assign_views must be distinct"),
        ({"assign_views": ()}, "assign_views must be distinct"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"epsilon": -1.0}, "epsilon must be > 0"),
        ({"iterations": 1.5}, "iterations must be an int >= 1"),
        ({"queue_scores": [torch.zeros(4, 3)]}, r"queue_scores needs one entry per assigned view \(2\)"),
        ({"queue_scores": [torch.zeros(4, 3), None]}, r"queue_scores\[0\] must be \[Q, 2\]"),
    ],
)
def test_swav_rejects_bad_input(kwargs, message: str) -> None:
    args = {"scores_views": [torch.zeros(3, 2), torch.zeros(3, 2)], **kwargs}
    with pytest.raises(ValueError, match=rf"^swav_loss: .*{message}"):
        swav_loss(**args)


# -- Barlow Twins ---------------------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), [(2, 1), (2, 3), (5, 1), (4, 4), (6, 3)])
@pytest.mark.parametrize(("lam", "eps"), [(5e-3, 1e-5), (0.5, 0.0)])
def test_barlow_twins_matches_oracle(n: int, d: int, lam: float, eps: float) -> None:
    assert_same_value_and_grads(
        lambda a, b: barlow_twins(a, b, lambda_offdiag=lam, eps=eps),
        lambda a, b: ref_barlow(a, b, lam, eps),
        [rand(n, d, seed=n + d), rand(n, d, seed=n + d + 100)],
    )


def test_barlow_twins_identical_views_have_zero_on_diagonal_loss() -> None:
    z = rand(8, 4, seed=60)
    # lambda = 0 leaves only sum (1 - C_ii)^2, and C_ii = 1 for identical standardised views
    torch.testing.assert_close(barlow_twins(z, z.clone(), 0.0, eps=0.0), torch.tensor(0.0, dtype=F64))
    assert barlow_twins(z, z.clone(), 0.0) < 1e-8  # BatchNorm's eps only perturbs it
    # invariant to per-feature affine maps (standardisation)
    torch.testing.assert_close(barlow_twins(3.0 * z + 2.0, z, 0.0, eps=0.0), torch.tensor(0.0, dtype=F64))
    # identical, decorrelated views: C = I, the whole loss vanishes
    h = torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=F64)[:, 1:]
    torch.testing.assert_close(barlow_twins(h, h.clone(), 0.7, eps=0.0), torch.tensor(0.0, dtype=F64))
    # an independent view is penalised
    assert barlow_twins(z, rand(8, 4, seed=61), 0.0) > 0.5


def test_barlow_twins_gradcheck_constant_feature_and_stop_gradient() -> None:
    z1, z2 = leaf(rand(4, 3, seed=62)), leaf(rand(4, 3, seed=63))
    assert gradcheck(lambda a, b: barlow_twins(a, b, 0.1), (z1, z2))
    const = torch.ones(5, 2)  # zero variance: finite thanks to eps
    assert torch.isfinite(barlow_twins(const, rand(5, 2, seed=64, dtype=torch.float32)))


def test_barlow_twins_low_precision_mixed_dtype_non_contiguous() -> None:
    z1, z2 = rand(8, 6, seed=65, dtype=BF16), rand(8, 6, seed=66, dtype=BF16)
    out = barlow_twins(z1, z2)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    torch.testing.assert_close(out.double(), ref_barlow(z1.double(), z2.double(), 5e-3), rtol=1e-4, atol=1e-5)
    assert barlow_twins(z1, z2.float()).dtype == torch.float32
    assert barlow_twins(z1.double(), z2.float()).dtype == F64
    with torch.autocast("cpu", dtype=BF16):
        auto = barlow_twins(z1.float(), z2.float())
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, out)
    a, b = rand(4, 5, seed=67).T, rand(5, 8, seed=68)[:, ::2]
    torch.testing.assert_close(barlow_twins(a, b), ref_barlow(a, b, 5e-3))


# -- VICReg --------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), [(2, 1), (2, 4), (5, 1), (4, 3), (6, 5)])
@pytest.mark.parametrize("scale", [0.3, 3.0])  # below / above the target std: both hinge sides
def test_vicreg_terms_match_oracle(n: int, d: int, scale: float) -> None:
    z1, z2 = scale * rand(n, d, seed=n * d), scale * rand(n, d, seed=n * d + 1)
    for i in range(3):
        assert_same_value_and_grads(
            lambda a, b, i=i: vicreg_terms(a, b, gamma=1.0, eps=1e-4)[i],
            lambda a, b, i=i: ref_vicreg_terms(a, b, 1.0, 1e-4)[i],
            [z1, z2],
        )
    weights = (25.0, 15.0, 2.0)
    assert_same_value_and_grads(
        lambda a, b: vicreg(a, b, *weights, gamma=1.0),
        lambda a, b: sum(w * t for w, t in zip(weights, ref_vicreg_terms(a, b, 1.0, 1e-4))),
        [z1, z2],
    )


def test_vicreg_terms_are_named_and_default_weights_apply() -> None:
    z1, z2 = rand(6, 4, seed=70), rand(6, 4, seed=71)
    terms = vicreg_terms(z1, z2)
    assert isinstance(terms, VICRegTerms) and terms._fields == ("invariance", "variance", "covariance")
    torch.testing.assert_close(vicreg(z1, z2), 25 * terms.invariance + 25 * terms.variance + terms.covariance)
    # identical views: no invariance loss; spread, decorrelated identical views: zero loss
    assert vicreg_terms(z1, z1.clone()).invariance == 0
    h = 2.0 * torch.tensor([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], dtype=F64)[:, 1:]
    torch.testing.assert_close(vicreg(h, h.clone()), torch.tensor(0.0, dtype=F64))
    # collapse is penalised by the variance term: at most gamma - sqrt(eps) per feature
    collapsed = vicreg_terms(torch.ones(5, 3), torch.ones(5, 3))
    torch.testing.assert_close(collapsed.variance, torch.tensor(1.0 - 1e-2))


def test_vicreg_gradcheck_low_precision_non_contiguous() -> None:
    z1, z2 = leaf(0.5 * rand(4, 3, seed=72)), leaf(0.5 * rand(4, 3, seed=73))
    assert gradcheck(lambda a, b: vicreg(a, b, 2.0, 3.0, 1.0), (z1, z2))
    b1, b2 = rand(8, 6, seed=74, dtype=BF16), rand(8, 6, seed=75, dtype=BF16)
    out = vicreg(b1, b2)
    assert out.dtype == torch.float32 and torch.isfinite(out)
    exact = sum(w * t for w, t in zip((25, 25, 1), ref_vicreg_terms(b1.double(), b2.double(), 1.0, 1e-4)))
    torch.testing.assert_close(out.double(), exact, rtol=1e-4, atol=1e-5)
    assert vicreg(b1, b2.double()).dtype == F64
    with torch.autocast("cpu", dtype=BF16):
        auto = vicreg(b1.float(), b2.float())
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, out)
    a, b = rand(4, 5, seed=76).T, rand(5, 8, seed=77)[:, ::2]
    exact = sum(w * t for w, t in zip((25, 25, 1), ref_vicreg_terms(a, b, 1.0, 1e-4)))
    torch.testing.assert_close(vicreg(a, b), exact)


# -- argument checks shared by the pair kernels -------------------------------------
PAIR_KERNELS = {
    "barlow_twins": barlow_twins,
    "vicreg": vicreg,
    "alignment": alignment,
}


@pytest.mark.parametrize("name", list(PAIR_KERNELS))
@pytest.mark.parametrize(("a", "b", "message"), BAD_PAIR_SHAPES)
def test_pair_kernels_reject_bad_shapes(name: str, a, b, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: .*{message}"):
        PAIR_KERNELS[name](torch.zeros(*a), torch.zeros(*b))


@pytest.mark.parametrize("name", list(PAIR_KERNELS))
def test_pair_kernels_reject_device_mismatch(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: z1 is on cpu but z2 is on meta"):
        PAIR_KERNELS[name](torch.zeros(3, 2), torch.zeros(3, 2, device="meta"))


@pytest.mark.parametrize("name", ["barlow_twins", "vicreg"])
def test_batch_statistic_kernels_need_two_samples(name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: needs at least 2 samples \(N >= 2\).*got N=1"):
        PAIR_KERNELS[name](torch.randn(1, 4), torch.randn(1, 4))


def test_hyperparameter_checks() -> None:
    z = torch.randn(3, 2)
    with pytest.raises(ValueError, match="^barlow_twins: lambda_offdiag must be >= 0"):
        barlow_twins(z, z, lambda_offdiag=-1.0)
    with pytest.raises(ValueError, match="^vicreg: gamma must be > 0"):
        vicreg(z, z, gamma=0.0)
    with pytest.raises(ValueError, match="^alignment: alpha must be > 0"):
        alignment(z, z, alpha=0.0)
    with pytest.raises(ValueError, match="^uniformity: t must be > 0"):
        uniformity(z, t=-1.0)


# -- mutual-information estimators -----------------------------------------------------
MI_SHAPES = [((1,), (1,)), ((4,), (4,)), ((3,), (3, 4)), ((2, 5), (7,)), ((), (2,))]


@pytest.mark.parametrize(("kernel", "oracle"), [(jsd_mi, ref_jsd), (bce_mi, ref_bce)], ids=["jsd", "bce"])
@pytest.mark.parametrize(("pos_shape", "neg_shape"), MI_SHAPES)
def test_mi_estimators_match_oracle(kernel, oracle, pos_shape, neg_shape) -> None:
    pos = rand(math.prod(pos_shape), seed=80).reshape(pos_shape)
    neg = 3 * rand(math.prod(neg_shape), seed=81).reshape(neg_shape)
    assert_same_value_and_grads(kernel, oracle, [pos, neg])


def test_mi_estimators_reference_forms_and_gradcheck() -> None:
    pos, neg = rand(6, seed=82), rand(6, seed=83)
    logits, labels = torch.cat([pos, neg]), torch.cat([torch.ones(6), torch.zeros(6)]).double()
    torch.testing.assert_close(bce_mi(pos, neg), F.binary_cross_entropy_with_logits(logits, labels))  # DGI
    torch.testing.assert_close(bce_mi(pos, neg), jsd_mi(pos, neg) / 2)
    # InfoGraph's local_global_loss_ (JSD): E_N[sp(-T) + T - log 2] - E_P[log 2 - sp(-T)]
    infograph = (F.softplus(-neg) + neg - math.log(2)).mean() - (math.log(2) - F.softplus(-pos)).mean()
    torch.testing.assert_close(jsd_mi(pos, neg) - 2 * math.log(2), infograph)
    for kernel in (jsd_mi, bce_mi):
        assert gradcheck(kernel, (leaf(rand(3, seed=84)), leaf(rand(2, 2, seed=85))))


@pytest.mark.parametrize("kernel", [jsd_mi, bce_mi])
def test_mi_estimators_prefer_separated_scores(kernel) -> None:
    pos, neg = 4.0 + rand(5, seed=86).abs(), -4.0 - rand(5, seed=87).abs()
    assert kernel(pos, neg) < kernel(neg, pos)
    assert kernel(pos, neg) < kernel(torch.zeros(5, dtype=F64), torch.zeros(5, dtype=F64)) < kernel(neg, pos)
    assert kernel(torch.full((3,), 40.0), torch.full((3,), -40.0)) < 1e-15  # saturates without overflow
    assert torch.isfinite(kernel(torch.full((3,), -1e4), torch.full((3,), 1e4)))


@pytest.mark.parametrize("kernel", [jsd_mi, bce_mi])
def test_mi_estimators_low_precision_mixed_and_bad_input(kernel) -> None:
    pos, neg = rand(8, seed=88, dtype=BF16), rand(4, 3, seed=89, dtype=BF16)
    out = kernel(pos, neg)
    assert out.dtype == torch.float32
    oracle = ref_jsd if kernel is jsd_mi else ref_bce
    torch.testing.assert_close(out.double(), oracle(pos.double(), neg.double()), rtol=1e-5, atol=1e-6)
    assert kernel(pos, neg.double()).dtype == F64
    torch.testing.assert_close(
        kernel(rand(4, 3, seed=90).T, rand(6, seed=91)[::2]),
        oracle(rand(4, 3, seed=90).T, rand(6, seed=91)[::2]),
    )
    name = kernel.__name__
    with pytest.raises(ValueError, match=rf"^{name}: pos_scores is empty"):
        kernel(torch.zeros(0), torch.zeros(3))
    with pytest.raises(ValueError, match=rf"^{name}: neg_scores is empty"):
        kernel(torch.zeros(3), torch.zeros(2, 0))
    with pytest.raises(ValueError, match=rf"^{name}: pos_scores must be floating point"):
        kernel(torch.zeros(3, dtype=torch.long), torch.zeros(3))
    with pytest.raises(ValueError, match=rf"^{name}: pos_scores is on cpu but neg_scores is on meta"):
        kernel(torch.zeros(3), torch.zeros(3, device="meta"))


# -- alignment and uniformity ---------------------------------------------------------
@pytest.mark.parametrize(("n", "d"), [(1, 1), (1, 4), (4, 1), (5, 3)])
@pytest.mark.parametrize("alpha", [1.0, 2.0, 3.0])
def test_alignment_matches_oracle(n: int, d: int, alpha: float) -> None:
    assert_same_value_and_grads(
        lambda a, b: alignment(a, b, alpha),
        lambda a, b: ref_alignment(a, b, alpha),
        [rand(n, d, seed=100 + n), rand(n, d, seed=200 + d)],
    )


@pytest.mark.parametrize(("n", "d"), [(2, 1), (2, 3), (5, 1), (6, 4)])
@pytest.mark.parametrize("t", [0.5, 2.0])
def test_uniformity_matches_oracle(n: int, d: int, t: float) -> None:
    assert_same_value_and_grads(
        lambda z: uniformity(z, t), lambda z: ref_uniformity(z, t), [rand(n, d, seed=300 + n * d)]
    )


def test_alignment_and_uniformity_extremes_and_gradcheck() -> None:
    z = rand(6, 3, seed=110)
    torch.testing.assert_close(alignment(z, 2.5 * z), torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(alignment(z, -z), torch.tensor(4.0, dtype=F64))  # ||2u||^2
    # identical views: finite, zero gradient (the norm's subgradient at 0) for every alpha
    for alpha in (1.0, 2.0):
        x = leaf(z)
        (g,) = torch.autograd.grad(alignment(x, z, alpha), x)
        torch.testing.assert_close(g, torch.zeros_like(g))
    collapsed = uniformity(torch.ones(5, 3, dtype=F64))
    torch.testing.assert_close(collapsed, torch.tensor(0.0, dtype=F64))  # the maximum
    circle = torch.stack(
        [torch.cos(torch.arange(6) * math.pi / 3), torch.sin(torch.arange(6) * math.pi / 3)], 1
    )
    assert (
        uniformity(circle.double()) < uniformity(circle[:3].double() * torch.tensor([1.0, 0.1])) < collapsed
    )
    # two antipodal points reach the lower bound -4t
    torch.testing.assert_close(uniformity(torch.tensor([[1.0, 0.0], [-1.0, 0.0]]), t=2.0), torch.tensor(-8.0))
    # duplicated rows give a finite gradient
    x = leaf(torch.cat([z, z[:2]]))
    (g,) = torch.autograd.grad(uniformity(x), x)
    assert torch.isfinite(g).all()
    assert gradcheck(
        lambda a, b: alignment(a, b, 3.0), (leaf(rand(3, 4, seed=111)), leaf(rand(3, 4, seed=112)))
    )
    assert gradcheck(lambda a: uniformity(a, 1.5), (leaf(rand(4, 3, seed=113)),))
    # as metrics: no graph under no_grad
    with torch.no_grad():
        assert not uniformity(leaf(z)).requires_grad and not alignment(leaf(z), z).requires_grad


def test_alignment_uniformity_low_precision_non_contiguous_and_bad_input() -> None:
    z1, z2 = rand(6, 5, seed=120, dtype=BF16), rand(6, 5, seed=121, dtype=BF16)
    a, u = alignment(z1, z2), uniformity(z1)  # torch.pdist has no bf16 kernel: computed in fp32
    assert a.dtype == u.dtype == torch.float32
    torch.testing.assert_close(a.double(), ref_alignment(z1.double(), z2.double(), 2.0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(u.double(), ref_uniformity(z1.double(), 2.0), rtol=1e-5, atol=1e-6)
    assert alignment(z1, z2.double()).dtype == F64
    with torch.autocast("cpu", dtype=BF16):
        assert uniformity(z1.float()).dtype == torch.float32
    p, q = rand(5, 6, seed=122).T, rand(6, 10, seed=123)[:, ::2]
    torch.testing.assert_close(alignment(p, q), ref_alignment(p, q, 2.0))
    torch.testing.assert_close(uniformity(p), ref_uniformity(p, 2.0))
    with pytest.raises(ValueError, match=r"^uniformity: needs at least 2 samples \(N >= 2\).*got N=1"):
        uniformity(torch.randn(1, 3))
    with pytest.raises(ValueError, match=r"^uniformity: z must be 2-D \[N, d\]"):
        uniformity(torch.randn(3))
    with pytest.raises(ValueError, match=r"^uniformity: z is empty"):
        uniformity(torch.randn(3, 0))


# -- momentum ------------------------------------------------------------------------
def make_net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    net(torch.randn(5, 3))  # train mode: updates BatchNorm's running stats and counter
    return net


def test_momentum_copy_is_a_frozen_independent_copy() -> None:
    online = make_net(0)
    online[0].weight.grad = torch.ones_like(online[0].weight)
    target = momentum_copy(online)
    assert target.training == online.training
    for (name, p), (_, q) in zip(target.named_parameters(), online.named_parameters()):
        assert not p.requires_grad and p.grad is None and q.requires_grad, name
        torch.testing.assert_close(p, q)
        assert p.data_ptr() != q.data_ptr()
    for b, c in zip(target.buffers(), online.buffers()):
        torch.testing.assert_close(b, c)


@pytest.mark.parametrize("m", [0.0, 0.3, 0.99, 1.0])
def test_ema_update_matches_per_parameter_oracle(m: float) -> None:
    target, online = momentum_copy(make_net(1)), make_net(2)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    ema_update(target, online, m)
    for name, p in target.named_parameters():
        o = dict(online.named_parameters())[name].detach()
        want = before[name] if m == 1.0 else (o if m == 0.0 else m * before[name] + (1 - m) * o)
        torch.testing.assert_close(
            p, want, rtol=0 if m in (0.0, 1.0) else 1e-6, atol=0 if m in (0.0, 1.0) else 1e-7
        )
        assert p.grad_fn is None and not p.requires_grad
    for name, b in target.named_buffers():  # buffers copied whatever m is
        torch.testing.assert_close(b, dict(online.named_buffers())[name], rtol=0, atol=0)
    assert int(target[1].num_batches_tracked) == 1


def test_ema_update_under_grad_mode_records_nothing_and_checks_structure() -> None:
    online = make_net(3)
    target = make_net(4)  # params still require grad: the update must not build a graph
    ema_update(target, online, 0.5)
    assert all(p.grad_fn is None for p in target.parameters())
    with pytest.raises(ValueError, match=r"^ema_update: momentum must be in \[0, 1\], got 1.5"):
        ema_update(target, online, 1.5)
    with pytest.raises(ValueError, match=r"^ema_update: target and online parameters differ"):
        ema_update(nn.Linear(3, 4), nn.Sequential(nn.Linear(3, 4)), 0.5)
    with pytest.raises(ValueError, match=r"^ema_update: parameter 'weight' has shape \(4, 3\) in target"):
        ema_update(nn.Linear(3, 4), nn.Linear(3, 5), 0.5)
    with pytest.raises(ValueError, match=r"^ema_update: target and online buffers differ"):
        ema_update(nn.BatchNorm1d(4), nn.BatchNorm1d(4, track_running_stats=False), 0.5)


def test_cosine_momentum_schedule() -> None:
    assert cosine_momentum(0, 100, 0.996) == pytest.approx(0.996)
    assert cosine_momentum(100, 100, 0.996) == pytest.approx(1.0)
    assert cosine_momentum(50, 100, 0.996) == pytest.approx(0.998)
    assert cosine_momentum(250, 100, 0.996) == pytest.approx(1.0)  # held after the schedule
    # BYOL's formula, step by step
    for k in range(0, 11):
        want = 1 - (1 - 0.99) * (math.cos(math.pi * k / 10) + 1) / 2
        assert cosine_momentum(k, 10, 0.99) == pytest.approx(want, abs=1e-15)
    values = [cosine_momentum(k, 10, 0.9, 0.99) for k in range(11)]
    assert values == sorted(values) and values[0] == pytest.approx(0.9) and values[-1] == pytest.approx(0.99)
    assert cosine_momentum(1, 1, 0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="^cosine_momentum: step must be >= 0"):
        cosine_momentum(-1, 10)
    with pytest.raises(ValueError, match="^cosine_momentum: total_steps must be >= 1"):
        cosine_momentum(0, 0)
    with pytest.raises(ValueError, match=r"^cosine_momentum: momentum must be in \[0, 1\]"):
        cosine_momentum(0, 10, base_momentum=-0.1)


def test_momentum_updater_constant_and_scheduled() -> None:
    online = make_net(5)
    target = momentum_copy(make_net(6))
    start = [p.clone() for p in target.parameters()]
    constant = MomentumUpdater(0.9)
    assert constant.momentum(0) == constant.momentum(10_000) == 0.9
    assert constant.update(target, online, step=7) == 0.9
    for p, s, o in zip(target.parameters(), start, online.parameters()):
        torch.testing.assert_close(p, 0.9 * s + 0.1 * o.detach())
    scheduled = MomentumUpdater(0.996, total_steps=10)
    assert scheduled.momentum(0) == pytest.approx(0.996) and scheduled.momentum(10) == pytest.approx(1.0)
    before = [p.clone() for p in target.parameters()]
    assert scheduled(target, online, 10) == pytest.approx(1.0)  # __call__; m = 1 keeps the target
    for p, b in zip(target.parameters(), before):
        torch.testing.assert_close(p, b, rtol=0, atol=0)
    assert "total_steps=10" in repr(scheduled)
    with pytest.raises(ValueError, match="^MomentumUpdater: total_steps must be >= 1 or None"):
        MomentumUpdater(total_steps=0)
    with pytest.raises(ValueError, match=r"^MomentumUpdater: momentum must be in \[0, 1\]"):
        MomentumUpdater(1.2)


# -- negative queue ------------------------------------------------------------------
def tagged(start: int, n: int, d: int = 3) -> torch.Tensor:
    """n keys whose first coordinate is their global index (identifiable in the queue)."""
    k = torch.zeros(n, d)
    k[:, 0] = torch.arange(start, start + n, dtype=torch.float32)
    k[:, 1] = 1.0
    return k


@pytest.mark.parametrize("batches", [[2, 2, 2, 3], [1] * 12, [5], [7], [3, 9, 1], [4, 4, 4, 4], [0, 2, 0]])
def test_queue_is_fifo_with_wrap_around(batches: list[int]) -> None:
    size = 5
    queue = NegativeQueue(size, 3, normalize=False)
    oracle: deque[torch.Tensor] = deque(maxlen=size)
    start = 0
    for n in batches:
        keys = tagged(start, n)
        queue.push(keys)
        oracle.extend(keys)
        start += n
        got = queue.negatives()
        want = torch.stack(list(oracle)) if oracle else torch.zeros(0, 3)
        torch.testing.assert_close(got, want)  # oldest first
        assert queue.filled == len(oracle) and queue.is_full == (len(oracle) == size)
    assert bool(queue)  # an empty or partly filled queue module is still truthy


def test_queue_normalises_detaches_and_returns_a_copy() -> None:
    queue = NegativeQueue(4, 2)
    keys = torch.tensor([[3.0, 4.0], [0.0, -2.0]], requires_grad=True)
    queue.push(keys * 1.0)
    torch.testing.assert_close(queue.negatives(), torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    assert not queue.negatives().requires_grad and not queue.keys.requires_grad
    snapshot = queue.negatives()
    queue.push(torch.ones(3, 2))
    assert snapshot.shape == (2, 2) and queue.negatives().shape == (4, 2)
    torch.testing.assert_close(snapshot, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    # bf16 keys are normalised in fp32 and stored in the buffer's dtype
    queue.push(torch.tensor([[1.0, 1.0]], dtype=BF16))
    assert queue.negatives().dtype == torch.float32
    torch.testing.assert_close(queue.negatives()[-1], torch.full((2,), 2**-0.5))
    # a push between the loss and its backward does not break autograd
    q = leaf(torch.randn(3, 2))
    loss = info_nce(q, torch.randn(3, 2), queue.negatives(), temperature=0.2)
    queue.push(torch.randn(4, 2))
    loss.backward()
    assert q.grad is not None


def test_queue_state_dict_round_trip() -> None:
    queue = NegativeQueue(6, 3)
    for i in range(3):
        queue.push(rand(4, 3, seed=130 + i, dtype=torch.float32))
    state = queue.state_dict()
    assert set(state) == {"keys", "ptr", "count"}
    restored = NegativeQueue(6, 3)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored.negatives(), queue.negatives())
    assert restored.is_full and int(restored.ptr) == int(queue.ptr) == 0
    more = rand(2, 3, seed=140, dtype=torch.float32)
    queue.push(more)
    restored.push(more)
    torch.testing.assert_close(restored.negatives(), queue.negatives())
    torch.save(queue.state_dict(), buf := io.BytesIO())
    buf.seek(0)
    again = NegativeQueue(6, 3)
    again.load_state_dict(torch.load(buf))
    torch.testing.assert_close(again.negatives(), queue.negatives())
    with pytest.raises(RuntimeError, match="size mismatch"):
        NegativeQueue(5, 3).load_state_dict(state)
    queue.reset()
    assert queue.filled == 0 and queue.negatives().shape == (0, 3)


def test_queue_rejects_bad_keys() -> None:
    queue = NegativeQueue(4, 3)
    with pytest.raises(ValueError, match=r"^NegativeQueue.push: keys must be \[n, 3\], got shape \(2, 4\)"):
        queue.push(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"^NegativeQueue.push: keys must be \[n, 3\], got shape \(3,\)"):
        queue.push(torch.randn(3))
    with pytest.raises(ValueError, match=r"^NegativeQueue.push: keys are on meta but the queue is on cpu"):
        queue.push(torch.randn(2, 3, device="meta"))
    with pytest.raises(ValueError, match="^NegativeQueue: size and dim must be >= 1"):
        NegativeQueue(0, 3)
    assert queue.filled == 0 and "size=4, dim=3" in repr(queue)
