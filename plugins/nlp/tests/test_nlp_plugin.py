import subprocess
import sys

import pytest
import torch

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.paradigms import Paradigm
from sslcore.plugins import Registry, get_registry


def test_registers_task_encoder_and_datasets() -> None:
    registry = get_registry()
    info = registry.plugins["nlp"]
    assert (info.distribution, set(info.tasks), info.encoders, set(info.datasets)) == (
        "sslcore-nlp",
        {"mlm", "clm", "electra", "simcse", "sop", "nsp"},
        ("bert", "electra"),
        {"wikitext2", "pydocs", "text-files"},
    )
    assert registry.dataset("pydocs").needs_root is False and registry.dataset("wikitext2").needs_root


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, sslcore_nlp.plugin; "
        "print(sorted(m for m in ('transformers', 'tokenizers', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "paradigm", "encoder"),
    [
        ("mlm", Paradigm.GENERATIVE, "bert"),
        ("clm", Paradigm.GENERATIVE, "bert"),
        ("electra", Paradigm.ADVERSARIAL, "electra"),
        ("simcse", Paradigm.CONTRASTIVE, "bert"),
        ("sop", Paradigm.CONTRASTIVE, "bert"),
        ("nsp", Paradigm.CONTRASTIVE, "bert"),
    ],
)
def test_tasks_match_their_specs_and_count_their_tokens(
    name: str, paradigm: Paradigm, encoder: str, registry: Registry, pydocs_bundle: DatasetBundle
) -> None:
    """Spec and task agree; every task reports ``tokens``, the non-padding input tokens of its
    batch (the throughput figure of the benchmarks: tokens per second = sum of ``tokens`` / seconds)."""
    spec = registry.task(name)
    torch.manual_seed(0)
    task = build_task(name, pydocs_bundle, registry=registry)
    assert spec.paradigm is paradigm is task.paradigm and spec.default_encoder == encoder
    for fact in ("domain", "signal", "family", "negatives"):
        assert getattr(task, fact) == getattr(spec, fact), fact
    assert task.encoder.model.config.num_hidden_layers == 2  # the default encoder's tiny preset
    batch = task.collate(list(pydocs_bundle.pretrain[:8]))
    with torch.no_grad():
        out = task(batch)
    assert out.metrics["tokens"] == float(batch["attention_mask"].sum()) > 0
    assert out.metrics["tokens"] <= batch["input_ids"].numel()
