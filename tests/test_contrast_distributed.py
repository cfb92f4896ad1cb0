"""Distributed kernels: 2 and 4 gloo processes on CPU give the loss and input gradients
of one process over the concatenated batch (ranks hold different numbers of rows)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from sslcore.contrast import (
    NegativeQueue,
    alignment,
    barlow_twins,
    bce_mi,
    cross_view,
    info_nce,
    jsd_mi,
    multi_positive,
    negative_cosine,
    nt_xent,
    swav_loss,
    uniformity,
    vicreg,
)

D = 6
SPLITS = {2: [5, 7], 4: [2, 3, 3, 4]}
TOTAL = 12
LABELS = torch.tensor([0, 1, 2, 0, 3, 1, 4, 2, 0, 5, 3, 1])  # positives across ranks; label 4, 5 have none
QUEUE = torch.randn(9, D, generator=torch.Generator().manual_seed(9), dtype=torch.float64)


def _inputs(n_inputs: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(TOTAL, D, generator=g, dtype=torch.float64) for _ in range(n_inputs)]


# name -> (number of [TOTAL, D] inputs, kernel(inputs, labels, distributed))
CASES: dict[str, tuple[int, Callable[..., torch.Tensor]]] = {
    "nt_xent_tiled": (2, lambda x, y, dd: nt_xent(x[0], x[1], 0.3, backend="tiled", distributed=dd)),
    "nt_xent_reference": (2, lambda x, y, dd: nt_xent(x[0], x[1], 0.3, backend="reference", distributed=dd)),
    "info_nce_in_batch": (2, lambda x, y, dd: info_nce(x[0], x[1], temperature=0.2, distributed=dd)),
    "info_nce_queue": (2, lambda x, y, dd: info_nce(x[0], x[1], QUEUE, temperature=0.2, distributed=dd)),
    "cross_view": (2, lambda x, y, dd: cross_view(x[0], x[1], 0.1, distributed=dd)),
    "multi_positive": (1, lambda x, y, dd: multi_positive(x[0], y, 0.5, distributed=dd)),
    "negative_cosine": (2, lambda x, y, dd: negative_cosine(x[0], x[1], distributed=dd)),
    "barlow_twins": (2, lambda x, y, dd: barlow_twins(x[0], x[1], distributed=dd)),
    "vicreg": (2, lambda x, y, dd: vicreg(x[0], x[1], distributed=dd)),
    "jsd_mi": (2, lambda x, y, dd: jsd_mi(x[0], x[1][:, :2], distributed=dd)),
    "bce_mi": (2, lambda x, y, dd: bce_mi(x[0][:, :1], x[1], distributed=dd)),
    "alignment": (2, lambda x, y, dd: alignment(x[0], x[1], alpha=3.0, distributed=dd)),
    "uniformity": (1, lambda x, y, dd: uniformity(x[0], distributed=dd)),
    "swav": (3, lambda x, y, dd: swav_loss([x[0], x[1], x[2]], assign_views=(0, 1), distributed=dd)),
}


def _worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    sizes = SPLITS[world]
    start, stop = sum(sizes[:rank]), sum(sizes[: rank + 1])
    results = {}
    for name, (n_inputs, kernel) in CASES.items():
        local = [x[start:stop].clone().requires_grad_() for x in _inputs(n_inputs)]
        loss = kernel(local, LABELS[start:stop], True)
        loss.backward()
        results[name] = (loss.detach(), [x.grad for x in local])
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = [t[start:stop] for t in _inputs(2)]
    nt_xent(x[0], x[1], tau, distributed=True).backward()
    results["tau_grad"] = tau.grad
    queue, local_queue = NegativeQueue(64, 4, dtype=torch.float64), NegativeQueue(64, 4, dtype=torch.float64)
    keys = _inputs(1)[0][:, :4]
    queue.push(keys[start:stop])  # every rank's keys, gathered
    local_queue.push(keys[start:stop], distributed=False)
    results["queue"], results["local_queue"] = queue.negatives(), local_queue.negatives()
    torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module", params=[2, 4])
def distributed_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    world = request.param
    out = tmp_path_factory.mktemp(f"dist{world}")
    mp.spawn(_worker, args=(world, str(out / "init"), str(out)), nprocs=world, join=True)
    return world, [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(world)]


@pytest.mark.parametrize("name", list(CASES))
def test_distributed_kernel_equals_single_process(distributed_results, name: str) -> None:
    world, ranks = distributed_results
    n_inputs, kernel = CASES[name]
    full = [x.clone().requires_grad_() for x in _inputs(n_inputs)]
    loss = kernel(full, LABELS, False)
    grads = torch.autograd.grad(loss, full)
    for rank_loss, _ in (r[name] for r in ranks):
        torch.testing.assert_close(rank_loss, loss.detach(), rtol=1e-5, atol=1e-8)
    for i, grad in enumerate(grads):
        gathered = torch.cat([r[name][1][i] for r in ranks])
        torch.testing.assert_close(gathered, grad, rtol=1e-5, atol=1e-8)


def test_distributed_learnable_temperature_gradient_sums_to_single_process(distributed_results) -> None:
    _, ranks = distributed_results
    tau = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    x = _inputs(2)
    (grad,) = torch.autograd.grad(nt_xent(x[0], x[1], tau), tau)
    torch.testing.assert_close(sum(r["tau_grad"] for r in ranks), grad, rtol=1e-5, atol=1e-8)


def test_queue_push_under_distributed_stores_every_ranks_keys_in_rank_order(distributed_results) -> None:
    world, ranks = distributed_results
    expected = NegativeQueue(64, 4, dtype=torch.float64)
    expected.push(_inputs(1)[0][:, :4])
    for r in ranks:
        torch.testing.assert_close(r["queue"], expected.negatives())
    sizes = SPLITS[world]
    assert [len(r["local_queue"]) for r in ranks] == list(sizes)


def test_distributed_flag_without_process_group_is_the_local_loss() -> None:
    a, b = _inputs(2)
    torch.testing.assert_close(nt_xent(a, b, 0.3, distributed=True), nt_xent(a, b, 0.3))
