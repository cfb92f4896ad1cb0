"""The device contract's CPU-side checks (sslcore.testing.devices) catch the mistakes that only
fail on a GPU: the bugs that broke four tests on an H200 (SCARF's collate reading a buffer
that had moved to CUDA) and their relatives."""

from __future__ import annotations

import inspect

import torch
from torch import Tensor, nn

from sslcore import ContrastiveTask, TaskOutput, info_nce
from sslcore.testing.devices import (
    collate_stays_on_cpu,
    default_device_creations,
    package_roots,
    state_on_meta,
    unregistered_tensors,
)


class Rows(ContrastiveTask):
    """A SCARF-like task; ``mistake`` selects one of the ways to break the contract."""

    domain, family, negatives = "tabular", "instance-instance", "end-to-end"

    def __init__(self, mistake: str = ""):
        super().__init__(nn.Linear(4, 4), nn.Identity())
        self.encoder.output_dim = 4
        self.mistake = mistake
        self.register_buffer("marginals", torch.randn(10, 4))
        if mistake == "plain attribute":
            self.table = torch.randn(3, 4)

    def collate(self, samples: list[Tensor]) -> tuple[Tensor, Tensor]:
        rows = torch.stack(samples)
        if self.mistake == "buffer in collate":  # SCARF before the fix (examples/sslcore-tabular)
            donors = torch.randint(len(self.marginals), rows.shape)
            return rows, self.marginals[donors, torch.arange(rows.shape[1])]
        if self.mistake == "buffer copied to the host in collate":  # jigsaw before the fix
            return rows, rows + self.marginals.cpu()[0]
        return rows, rows + 0.1 * torch.randn_like(rows)

    def forward(self, batch: tuple[Tensor, Tensor]) -> TaskOutput:
        a, b = (self.encoder(x) for x in batch)
        if self.mistake == "default device in forward":
            a = a + torch.arange(a.shape[1])  # the offending line
        if self.mistake == "meant on the host":
            a = a + torch.arange(a.shape[1]).to(a.device)  # device-ok: moved at once
        loss = info_nce(a, b, temperature=0.07)
        if self.mistake == "metric read every step":
            return TaskOutput(loss, {"loss": loss.item()})  # the read
        return TaskOutput(loss, {"loss": loss.detach()})


SAMPLES = [torch.randn(4) for _ in range(6)]


def creations(task: Rows) -> list:
    batch = task.collate(SAMPLES)
    with default_device_creations(package_roots(task), host_reads=True) as found:
        task(task.on_after_batch_transfer(batch))
    return found


def test_a_task_that_keeps_the_contract_passes_every_check() -> None:
    task = Rows()
    assert collate_stays_on_cpu(task, SAMPLES) is None
    assert unregistered_tensors(task) == [] and creations(task) == []


def test_collate_reading_the_task_state_is_caught() -> None:
    for mistake in ("buffer in collate", "buffer copied to the host in collate"):
        problem = collate_stays_on_cpu(Rows(mistake), SAMPLES)
        assert problem is not None and "collate runs on the CPU in DataLoader workers" in problem, mistake


def test_the_task_state_is_restored_after_the_collate_check() -> None:
    task = Rows("buffer in collate")
    before = {k: v.clone() for k, v in task.state_dict().items()}
    params = list(task.parameters())
    collate_stays_on_cpu(task, SAMPLES)
    assert list(task.parameters()) == params  # the same Parameter objects (optimisers keep them)
    for k, v in task.state_dict().items():
        assert v.device.type == "cpu" and torch.equal(v, before[k])
    with state_on_meta(task):
        assert {p.device.type for p in task.parameters()} == {"meta"}
        assert task.marginals.device.type == "meta"


def test_default_device_creation_in_forward_is_named_with_its_line() -> None:
    found = creations(Rows("default device in forward"))
    source, first = inspect.getsourcelines(Rows.forward)
    line = first + next(i for i, text in enumerate(source) if "the offending line" in text)
    assert [(c.function, c.filename, c.lineno) for c in found] == [("arange", __file__, line)]
    assert "torch.arange(...) without device=" in str(found[0]) and "the offending line" in str(found[0])


def test_a_host_read_in_forward_is_named() -> None:
    (found,) = creations(Rows("metric read every step"))
    assert found.read and found.function == "item" and "the read" in str(found)
    assert "reads a value back (a GPU sync every step)" in str(found)


def test_a_line_marked_device_ok_is_not_reported() -> None:
    assert creations(Rows("meant on the host")) == []


def test_plain_tensor_attributes_are_named() -> None:
    assert unregistered_tensors(Rows("plain attribute")) == ["Rows.table"]


def test_library_internals_are_not_reported() -> None:
    """Only the checked packages' own lines count: torch's internals (here ``F.one_hot`` and
    ``nn.init``) create tensors as they see fit."""
    with default_device_creations(package_roots(Rows)) as found:
        torch.nn.functional.one_hot(torch.tensor([0, 1], device="cpu"), 3)
        nn.init.orthogonal_(torch.empty(3, 3, device="cpu"))
    assert found == []
