"""Multi-positive and symmetric cross-view contrast against per-row oracles, both backends."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from sslcore.contrast.cross_view import cross_view
from sslcore.contrast.multi_positive import multi_positive
from sslcore.contrast.tiled import cross_logsumexp, self_logsumexp
from tests.test_contrast import assert_same_value_and_grads, rand, unit

F64 = torch.float64


def ref_multi_positive(z: torch.Tensor, labels: list[int], tau) -> torch.Tensor:
    rows = [unit(r) for r in z]
    total, count = 0.0, 0
    for i, ui in enumerate(rows):
        positives = [j for j in range(len(rows)) if j != i and labels[j] == labels[i]]
        if not positives:
            continue
        log_denom = torch.log(
            sum(torch.exp(torch.dot(ui, rows[j]) / tau) for j in range(len(rows)) if j != i)
        )
        total = total + log_denom - sum(torch.dot(ui, rows[p]) / tau for p in positives) / len(positives)
        count += 1
    return total / count


def ref_cross_view(a: torch.Tensor, b: torch.Tensor, tau) -> torch.Tensor:
    a_rows, b_rows = [unit(r) for r in a], [unit(r) for r in b]
    n, total = len(a_rows), 0.0
    for i in range(n):
        s_ii = torch.dot(a_rows[i], b_rows[i]) / tau
        row = torch.log(sum(torch.exp(torch.dot(a_rows[i], b_rows[j]) / tau) for j in range(n)))
        col = torch.log(sum(torch.exp(torch.dot(a_rows[j], b_rows[i]) / tau) for j in range(n)))
        total = total + (row - s_ii) + (col - s_ii)
    return total / (2 * n)


LABELS = [[0, 0], [0, 1, 0, 1, 1], [3, 3, 3, 7, 5, 5, 9], [0, 0, 0, 0]]


@pytest.mark.parametrize("backend", ["reference", "tiled"])
@pytest.mark.parametrize("labels", LABELS)
@pytest.mark.parametrize("d", [1, 4])
def test_multi_positive_matches_oracle(backend: str, labels: list[int], d: int) -> None:
    y = torch.tensor(labels)
    assert_same_value_and_grads(
        lambda z: multi_positive(z, y, 0.3, backend=backend),
        lambda z: ref_multi_positive(z, labels, 0.3),
        [rand(len(labels), d, seed=len(labels))],
    )


def test_multi_positive_with_instance_indices_equals_nt_xent() -> None:
    from sslcore.contrast import nt_xent

    z1, z2 = rand(6, 5, seed=1), rand(6, 5, seed=2)
    ids = torch.arange(6).repeat(2)
    torch.testing.assert_close(multi_positive(torch.cat([z1, z2]), ids, 0.2), nt_xent(z1, z2, 0.2))


def test_multi_positive_learnable_temperature_gradcheck() -> None:
    z = rand(7, 3, seed=3).requires_grad_()
    tau = torch.tensor(0.4, dtype=F64, requires_grad=True)
    y = torch.tensor([0, 0, 1, 1, 1, 2, 3])
    assert gradcheck(lambda z, t: multi_positive(z, y, t, backend="tiled"), (z, tau))


def test_multi_positive_bad_input() -> None:
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="no row has a positive"):
        multi_positive(z, torch.arange(4), 0.1)
    with pytest.raises(ValueError, match=r"labels must have shape \[4\]"):
        multi_positive(z, torch.zeros(3, dtype=torch.long), 0.1)
    with pytest.raises(ValueError, match="labels must be integers"):
        multi_positive(z, torch.zeros(4), 0.1)


@pytest.mark.parametrize("backend", ["reference", "tiled"])
@pytest.mark.parametrize(("n", "d"), [(2, 1), (3, 2), (6, 5)])
def test_cross_view_matches_oracle(backend: str, n: int, d: int) -> None:
    assert_same_value_and_grads(
        lambda a, b: cross_view(a, b, 0.1, backend=backend),
        lambda a, b: ref_cross_view(a, b, 0.1),
        [rand(n, d, seed=n), rand(n, d, seed=n + 10)],
    )


@pytest.mark.parametrize("block", [1, 2, 3, 64])
def test_tiled_lse_is_independent_of_tile_size(block: int) -> None:
    """Tiles of every size, including ones that do not divide the row count, give the
    materialised log-sum-exp and its gradients (gradcheck in float64)."""
    u = torch.nn.functional.normalize(rand(7, 3, seed=4), dim=1).requires_grad_()
    tau = torch.tensor(0.25, dtype=F64, requires_grad=True)
    s = (u @ u.T / tau).masked_fill(torch.eye(7, dtype=torch.bool), float("-inf"))
    torch.testing.assert_close(self_logsumexp(u, tau, block), torch.logsumexp(s, 1))
    assert gradcheck(lambda u, t: self_logsumexp(u, t, block), (u, tau))
    k = rand(5, 3, seed=5).requires_grad_()
    assert gradcheck(lambda q, k, t: sum(x.sum() for x in cross_logsumexp(q, k, t, True, block)), (u, k, tau))


def test_tiled_is_stable_at_low_temperature_in_fp32() -> None:
    z1, z2 = rand(64, 16, seed=6, dtype=torch.float32), rand(64, 16, seed=7, dtype=torch.float32)
    from sslcore.contrast import nt_xent

    tiled, ref = (
        nt_xent(z1, z2, 0.01, backend="tiled"),
        nt_xent(z1.double(), z2.double(), 0.01, backend="reference"),
    )
    assert torch.isfinite(tiled)
    torch.testing.assert_close(tiled.double(), ref, rtol=1e-4, atol=1e-4)
