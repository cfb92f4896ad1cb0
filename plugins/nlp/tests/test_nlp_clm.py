"""Causal language modelling (``clm``) on a BERT transformer with a causal mask."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps
from sslcore_nlp.tasks.clm import CausalLanguageModeling


@pytest.fixture
def task(registry: Registry, pydocs_bundle: DatasetBundle, small_bert: Callable) -> CausalLanguageModeling:
    torch.manual_seed(0)
    return build_task("clm", pydocs_bundle, small_bert(causal=True), registry=registry)


def test_registered_task_builds_a_causal_bert(registry: Registry, pydocs_bundle: DatasetBundle) -> None:
    task = build_task("clm", pydocs_bundle, registry=registry)
    config = task.encoder.model.config
    assert config.is_decoder and not config.use_cache
    assert (config.num_hidden_layers, config.hidden_size) == (2, 128)
    assert task.decoder.predictions.decoder.weight is task.encoder.model.get_input_embeddings().weight
    mlm = build_task("mlm", pydocs_bundle, registry=registry)
    assert not mlm.encoder.model.config.is_decoder  # only clm asks for the causal mask


def test_states_do_not_see_later_tokens(task: CausalLanguageModeling, pydocs_bundle: DatasetBundle) -> None:
    batch = task.collate(list(pydocs_bundle.pretrain[:2]))
    changed = {**batch, "input_ids": batch["input_ids"].clone()}
    changed["input_ids"][:, 20] = pydocs_bundle.info["tokenizer"].mask_token_id
    task.eval()
    with torch.no_grad():
        a, b = task.encoder.token_states(batch), task.encoder.token_states(changed)
    torch.testing.assert_close(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])


def test_loss_is_next_token_cross_entropy_without_padding(
    task: CausalLanguageModeling, pydocs_bundle: DatasetBundle
) -> None:
    samples = [inputs for inputs, _ in pydocs_bundle.evaluation.dataset[:6]]
    batch = task.collate(samples)
    pad = batch["attention_mask"] == 0
    assert pad.any() and (batch["labels"][pad] == -100).all()
    assert torch.equal(batch["labels"][~pad], batch["input_ids"][~pad])
    out = task(batch)
    logits = task.decoder(task.encoder.token_states(batch))  # [B, L, V]
    expected = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1), ignore_index=-100
    )
    torch.testing.assert_close(out.loss, expected)
    assert out.metrics["predicted_tokens"] == batch["attention_mask"][:, 1:].sum().item()


def test_a_few_steps_lower_the_loss(task: CausalLanguageModeling, pydocs_bundle: DatasetBundle) -> None:
    batch = task.collate(list(pydocs_bundle.pretrain[:16]))
    with torch.no_grad():
        before = task(batch).loss.item()
    train_steps(lambda _: task(batch), task, 10, lr=3e-3, optimizer=torch.optim.AdamW)
    with torch.no_grad():
        after = task(batch)
    assert after.loss.item() < before - 1.0 and after.metrics["perplexity"] < 2000


def test_bad_encoders_are_rejected(
    registry: Registry, pydocs_bundle: DatasetBundle, small_bert: Callable
) -> None:
    with pytest.raises(ConfigError, match="causal encoder"):
        build_task("clm", pydocs_bundle, small_bert(), registry=registry)
    with pytest.raises(ConfigError, match="pooling='cls'"):
        build_task("clm", pydocs_bundle, encoder_options={"pooling": "cls"}, registry=registry)


def test_last_pooling_takes_the_last_real_token(pydocs_bundle: DatasetBundle, small_bert: Callable) -> None:
    encoder = small_bert(causal=True).eval()
    encoder.pooling = "last"
    batch = dict(
        pydocs_bundle.info["tokenizer"](
            ["Open a file.", "A much longer sentence " * 4], padding=True, return_tensors="pt"
        )
    )
    states = encoder.token_states(batch)
    last = batch["attention_mask"].sum(1) - 1
    assert last[0] < batch["input_ids"].shape[1] - 1  # the first row is padded
    torch.testing.assert_close(encoder(batch), states[torch.arange(2), last])
