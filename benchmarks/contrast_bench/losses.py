"""The NT-Xent implementations compared (plain, sslcore's backends, lightly, pml) and the median
timer both modes use."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .libs import lightly_ntxent_class, use_bench_libs

if TYPE_CHECKING:
    from torch import Tensor

TAU = 0.5


def plain_nt_xent(z1: Tensor, z2: Tensor, temperature: float = TAU) -> Tensor:
    """Materialised NT-Xent in the inputs' dtype: normalise, ``z @ z.T / tau``, diagonal to
    -inf, ``F.cross_entropy``."""
    import torch
    import torch.nn.functional as F

    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = (z @ z.T / temperature).fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, targets)


def make_loss(impl: str, temperature: float) -> Callable[[Tensor, Tensor], Tensor]:
    """NT-Xent of ``impl``: plain, an sslcore backend, lightly or pml (pytorch-metric-learning)."""
    import torch

    if impl in ("reference", "tiled", "triton", "flex", "auto"):
        from sslcore.contrast import nt_xent

        return lambda a, b: nt_xent(a, b, temperature, backend=impl)
    if impl == "plain":
        return functools.partial(plain_nt_xent, temperature=temperature)
    if impl == "lightly":
        return lightly_ntxent_class()(temperature=temperature)
    if impl == "pml":
        use_bench_libs()
        from pytorch_metric_learning.losses import NTXentLoss

        loss = NTXentLoss(temperature=temperature)

        def pml(a: Tensor, b: Tensor) -> Tensor:
            labels = torch.arange(a.shape[0], device=a.device).repeat(2)
            return loss(torch.cat([a, b]), labels)

        return pml
    raise ValueError(f"unknown implementation {impl!r}")


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    """Median wall time of ``repeats`` calls of ``fn`` (after one warm-up call)."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
