"""Every NLP task reports ``tokens``, the non-padding input tokens of its batch (the
throughput figure of the benchmarks: tokens per second = sum of ``tokens`` / seconds)."""

from __future__ import annotations

import pytest
import torch

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.plugins import Registry


@pytest.mark.parametrize("name", ["mlm", "clm", "electra", "simcse", "sop", "nsp"])
def test_tokens_metric_counts_the_non_padding_inputs(
    name: str, registry: Registry, pydocs_bundle: DatasetBundle
) -> None:
    torch.manual_seed(0)
    task = build_task(name, pydocs_bundle, registry=registry)
    batch = task.collate(list(pydocs_bundle.pretrain[:8]))
    with torch.no_grad():
        out = task(batch)
    assert out.metrics["tokens"] == float(batch["attention_mask"].sum()) > 0
    assert out.metrics["tokens"] <= batch["input_ids"].numel()
