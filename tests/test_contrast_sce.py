"""The scaled cosine error (GraphMAE) against a per-row implementation of its formula."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd import gradcheck

from sslcore.contrast import negative_cosine, scaled_cosine_error

F64 = torch.float64


def ref_sce(r: torch.Tensor, x: torch.Tensor, gamma: float) -> torch.Tensor:
    """(1/N) sum_i (1 - r_i.x_i / (|r_i| |x_i|)) ** gamma, one row at a time."""
    total = torch.zeros((), dtype=r.dtype)
    for ri, xi in zip(r, x):
        cos = torch.dot(ri, xi) / (torch.sqrt(torch.dot(ri, ri)) * torch.sqrt(torch.dot(xi, xi)))
        total = total + (1 - cos) ** gamma
    return total / len(r)


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0, 2.5])
def test_sce_matches_the_formula_and_its_gradients(gamma: float) -> None:
    r, x = rand(7, 5, seed=1).requires_grad_(True), rand(7, 5, seed=2).requires_grad_(True)
    ours, ref = scaled_cosine_error(r, x, gamma), ref_sce(r, x, gamma)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-10)
    g_ours = torch.autograd.grad(ours, (r, x))
    g_ref = torch.autograd.grad(ref, (r, x))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b)
    assert gradcheck(lambda a, b: scaled_cosine_error(a, b, gamma), (r, x))


def test_sce_values_at_the_extremes_and_gamma_one_is_negative_cosine() -> None:
    x = rand(4, 6, seed=3)
    assert scaled_cosine_error(2.5 * x, x, 3.0).item() == pytest.approx(0.0, abs=1e-12)  # scale-free
    assert scaled_cosine_error(-x, x, 3.0).item() == pytest.approx(8.0)  # (1 - (-1)) ** 3
    r = rand(4, 6, seed=4)
    assert scaled_cosine_error(r, x, 1.0).item() == pytest.approx(1 + negative_cosine(r, x).item())


def test_gamma_down_weights_the_well_reconstructed_rows() -> None:
    # row 0 nearly right (cos = 0.9), row 1 badly wrong (cos = -0.5): a larger gamma makes
    # the bad row's share of the loss larger
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0]], dtype=F64)
    r = torch.tensor([[0.9, math.sqrt(1 - 0.81)], [-0.5, math.sqrt(0.75)]], dtype=F64)
    shares = []
    for gamma in (1.0, 3.0):
        per_row = [scaled_cosine_error(r[i : i + 1], x[i : i + 1], gamma).item() for i in range(2)]
        assert per_row[0] == pytest.approx(0.1**gamma)
        assert per_row[1] == pytest.approx(1.5**gamma)
        shares.append(per_row[1] / sum(per_row))
    assert shares[1] > shares[0]


def test_sce_rejects_bad_input() -> None:
    x = rand(3, 4, seed=5)
    with pytest.raises(ValueError, match="gamma must be >= 1"):
        scaled_cosine_error(x, x, 0.5)
    with pytest.raises(ValueError, match="same shape"):
        scaled_cosine_error(x, x[:2])
    with pytest.raises(ValueError, match="2-D"):
        scaled_cosine_error(x[0], x[0])
