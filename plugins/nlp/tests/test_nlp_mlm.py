from collections.abc import Callable

import pytest
import torch

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps
from sslcore_nlp.tasks.mlm import MaskedLanguageModeling


@pytest.fixture
def make_task(registry: Registry, pydocs_bundle: DatasetBundle) -> Callable[[int], MaskedLanguageModeling]:
    def make(seed: int = 0) -> MaskedLanguageModeling:
        torch.manual_seed(seed)
        return build_task("mlm", pydocs_bundle, encoder_options={"dropout": 0.0}, registry=registry)

    return make


def test_output_embedding_is_tied_to_word_embeddings_also_after_loading(make_task: Callable) -> None:
    """(embed's shape and the state_dict round trip: test_conformance.py)"""
    task, fresh = make_task(0), make_task(1)
    assert not torch.equal(fresh.decoder.predictions.decoder.weight, task.decoder.predictions.decoder.weight)
    fresh.load_state_dict(task.state_dict())
    for tied in (task, fresh):
        words = tied.encoder.model.get_input_embeddings().weight
        assert tied.decoder.predictions.decoder.weight is words
        assert sum(p is words for p in tied.parameters()) == 1  # counted once by the optimiser


def test_a_few_steps_lower_the_mlm_loss(make_task: Callable, pydocs_bundle: DatasetBundle) -> None:
    task = make_task()
    samples = list(pydocs_bundle.pretrain[:32])
    torch.manual_seed(1)
    held_out = task.collate(samples)  # one fixed masking to measure on
    with torch.no_grad():
        before = task(held_out).loss.item()
    train_steps(lambda _: task(task.collate(samples)), task, 25, lr=2e-3, optimizer=torch.optim.AdamW)
    with torch.no_grad():
        after = task(held_out)
    assert after.loss.item() < before - 1.0
    assert 0.0 <= after.metrics["mlm_accuracy"] <= 1.0
    assert after.metrics["masked_tokens"] == (held_out["labels"] != -100).sum().item()


def test_batch_with_nothing_masked_gives_zero_loss_with_gradient(
    make_task: Callable, pydocs_bundle: DatasetBundle
) -> None:
    task = make_task()
    batch = task.collate(list(pydocs_bundle.pretrain[:4]))
    batch["labels"] = torch.full_like(batch["labels"], -100)
    out = task(batch)
    assert out.loss.item() == 0.0 and out.loss.requires_grad
