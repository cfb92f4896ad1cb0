"""The FlexAttention backend's log-sum-exps on CPU (FlexAttention runs eagerly there and has
no backward, so values only; the GPU benchmark checks its gradients) and its refusals."""

from __future__ import annotations

import warnings

import pytest
import torch

from sslcore.contrast import nt_xent
from sslcore.contrast.backends import resolve_backend
from sslcore.contrast.flex_lse import flex_cross_logsumexp, flex_self_logsumexp


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager FlexAttention warns that it is unfused
        yield


def rand(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def ref_lse(
    q: torch.Tensor, k: torch.Tensor, tau: float, drop: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    s = (q.double() @ k.double().T / tau).masked_fill(drop, float("-inf"))
    return torch.logsumexp(s, 1), torch.logsumexp(s, 0)


@pytest.mark.parametrize("tau", [0.1, torch.tensor(0.5)])
def test_self_lse_leaves_out_the_diagonal(tau) -> None:
    u = torch.nn.functional.normalize(rand(37, 16, seed=1), dim=1)
    want, _ = ref_lse(u, u, float(tau), torch.eye(37, dtype=torch.bool))
    torch.testing.assert_close(flex_self_logsumexp(u, tau).double(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("columns", [False, True])
def test_cross_lse_with_exclude(columns: bool) -> None:
    k = rand(45, 16, seed=2)
    q = k[20:40].clone()
    exclude = torch.arange(20, 40)
    exclude[::7] = -1
    drop = exclude[:, None] == torch.arange(45)[None, :]
    want_row, want_col = ref_lse(q, k, 0.3, drop)
    row, col = flex_cross_logsumexp(q, k, 0.3, columns=columns, exclude=exclude)
    torch.testing.assert_close(row.double(), want_row, rtol=1e-5, atol=1e-5)
    if columns:
        torch.testing.assert_close(col.double(), want_col, rtol=1e-5, atol=1e-5)
    else:
        assert torch.isneginf(col).all() and col.shape == (45,)


def test_half_precision_inputs_keep_their_dtype() -> None:
    u = torch.nn.functional.normalize(rand(32, 16, seed=3), dim=1).bfloat16()
    want, _ = ref_lse(u, u, 0.2, torch.eye(32, dtype=torch.bool))
    got = flex_self_logsumexp(u, 0.2)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, rtol=2e-2, atol=2e-2)


def test_bad_input_is_refused_by_name() -> None:
    q, k = rand(4, 16, seed=4), rand(5, 16, seed=5)
    with pytest.raises(
        ValueError, match=r"flex_cross_logsumexp: q is torch.float32 on cpu but k is torch.bfloat16"
    ):
        flex_cross_logsumexp(q, k.bfloat16(), 0.5)
    with pytest.raises(
        ValueError, match=r"u is torch.float64; FlexAttention takes float16, bfloat16 or float32"
    ):
        flex_self_logsumexp(q.double(), 0.5)
    with pytest.raises(ValueError, match=r"u must be a non-empty 2-D"):
        flex_self_logsumexp(q[:0], 0.5)
    with pytest.raises(ValueError, match=r"no backward on cpu; use CUDA tensors or backend='tiled'"):
        flex_self_logsumexp(q.requires_grad_(), 0.5)
    with pytest.raises(ValueError, match=r"exclude must be an integer \[4\] tensor"):
        flex_cross_logsumexp(q.detach(), k, 0.5, exclude=torch.zeros(5, dtype=torch.long))


def test_losses_refuse_flex_on_cpu() -> None:
    with pytest.raises(ValueError, match="backend 'flex' needs CUDA tensors"):
        resolve_backend("nt_xent", "flex", torch.zeros(2, 2))
    with pytest.raises(ValueError, match="nt_xent: backend 'flex' needs CUDA tensors"):
        nt_xent(rand(3, 4, seed=6), rand(3, 4, seed=7), 0.5, backend="flex")
