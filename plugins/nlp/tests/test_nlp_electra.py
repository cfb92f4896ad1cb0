"""ELECTRA replaced-token detection (``electra`` task) and the ``electra`` encoder."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore.paradigms import AdversarialTask
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps
from sslcore_nlp.encoders.bert import bert
from sslcore_nlp.tasks.electra import Electra


@pytest.fixture
def task(registry: Registry, pydocs_bundle: DatasetBundle) -> Electra:
    torch.manual_seed(0)
    return build_task("electra", pydocs_bundle, encoder_options={"dropout": 0.0}, registry=registry)


@pytest.fixture
def batch(task: Electra, pydocs_bundle: DatasetBundle) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return task.collate([inputs for inputs, _ in pydocs_bundle.evaluation.dataset[:24]])


def test_encoder_size_and_generator(task: Electra, pydocs_bundle: DatasetBundle) -> None:
    assert isinstance(task, AdversarialTask) and task.schedule == "joint"
    disc, ref = task.encoder.model.config, bert(pydocs_bundle.info).model.config
    fields = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size")
    assert [getattr(disc, f) for f in fields] == [getattr(ref, f) for f in fields]  # same size as tiny BERT
    gen = task.generator.config
    assert (gen.hidden_size, gen.num_attention_heads) == (32, 1)
    assert (gen.intermediate_size, gen.num_hidden_layers) == (128, 2)
    assert gen.embedding_size == disc.embedding_size == 128
    assert task.generator.electra.embeddings_project.in_features == 128  # shared 128-d embeddings -> 32


def test_embeddings_are_shared(task: Electra) -> None:
    shared = task.encoder.model.embeddings
    assert task.generator.electra.embeddings is shared
    words = shared.word_embeddings.weight
    assert task.generator.generator_lm_head.weight is words
    assert task.generator.electra.get_input_embeddings().weight.data_ptr() == words.data_ptr()
    assert sum(p is words for p in task.parameters()) == 1
    generator_only = {id(p) for p in task.generator_parameters()}
    assert id(words) not in generator_only and generator_only  # the generator has its own layers too


def test_masks_15_percent_of_tokens_85_percent_of_them_with_mask(
    task: Electra, pydocs_bundle: DatasetBundle
) -> None:
    """The reference code's masking: 15 % of the non-special tokens, of which 85 % become
    ``[MASK]`` and 15 % stay as they are (no random replacement); labels only there."""
    tok = pydocs_bundle.info["tokenizer"]
    samples = list(pydocs_bundle.pretrain[:200])
    torch.manual_seed(2)
    batch = task.collate(samples)
    original = torch.nn.utils.rnn.pad_sequence(
        [torch.tensor(s["input_ids"]) for s in samples], batch_first=True, padding_value=tok.pad_token_id
    )
    special = torch.isin(original, torch.tensor(tok.all_special_ids))
    masked = batch["labels"] != -100
    assert not (masked & special).any()
    assert torch.equal(batch["labels"][masked], original[masked])
    rate = masked.sum() / (~special).sum()
    as_mask = (batch["input_ids"][masked] == tok.mask_token_id).float().mean()
    kept = (batch["input_ids"][masked] == original[masked]).float().mean()
    assert abs(rate - 0.15) < 0.01 and abs(as_mask - 0.85) < 0.03 and abs(as_mask + kept - 1) < 1e-6
    assert torch.equal(batch["input_ids"][~masked], original[~masked])


def test_labels_mark_exactly_the_replaced_tokens(task: Electra, batch: dict) -> None:
    out = task.step(batch)
    masked = batch["labels"] != -100
    assert torch.equal(out.masked, masked)
    assert torch.equal(out.corrupted[~masked], batch["input_ids"][~masked])  # untouched outside M
    assert torch.equal(out.corrupted[masked], out.sampled)
    assert torch.equal(out.replaced, out.corrupted != out.original)
    assert not out.replaced[~masked].any()
    assert out.replaced[masked].float().mean() > 0.9  # an untrained generator rarely guesses right


def test_a_sample_equal_to_the_original_counts_as_real(task: Electra, batch: dict) -> None:
    originals = batch["labels"][batch["labels"] != -100]
    frequent = int(originals.mode().values)
    with torch.no_grad():  # make the generator always propose the most frequent masked token
        task.generator.generator_lm_head.bias.fill_(-1e4)
        task.generator.generator_lm_head.bias[frequent] = 1e4
    out = task.step(batch)
    assert (out.sampled == frequent).all()
    hits = out.original[out.masked] == frequent
    assert hits.any() and (~hits).any()
    assert torch.equal(out.replaced[out.masked], ~hits)


def test_discriminator_loss_is_mean_over_non_padding_tokens(task: Electra, batch: dict) -> None:
    real = batch["attention_mask"].bool()
    assert (~real).any()
    out = task.step(batch)
    expected = F.binary_cross_entropy_with_logits(out.disc_logits[real], out.replaced[real].float())
    with_padding = F.binary_cross_entropy_with_logits(out.disc_logits, out.replaced.float())
    torch.testing.assert_close(out.disc_loss, expected)
    assert not torch.isclose(out.disc_loss, with_padding)


def test_no_gradient_reaches_the_generator_through_the_samples(task: Electra, batch: dict) -> None:
    task.step(batch).disc_loss.backward()
    for name, p in task.generator.named_parameters():
        if p is task.encoder.model.embeddings.word_embeddings.weight or ".embeddings." in f".{name}":
            continue
        assert p.grad is None or not p.grad.any(), name
    assert task.encoder.model.embeddings.word_embeddings.weight.grad.any()  # shared part learns from D
    task.zero_grad()
    task.step(batch).mlm_loss.backward()
    assert task.generator.electra.embeddings_project.weight.grad.any()


def test_total_loss_is_mlm_plus_50_disc(task: Electra, batch: dict) -> None:
    torch.manual_seed(3)
    out = task(batch)
    torch.manual_seed(3)
    parts = task.step(batch)
    torch.testing.assert_close(out.loss, parts.mlm_loss + 50.0 * parts.disc_loss)
    assert out.metrics["mlm_loss"] == pytest.approx(parts.mlm_loss.item())
    assert 0.0 < out.metrics["replaced_fraction"] < 0.3
    assert 0.0 <= out.metrics["disc_accuracy"] <= 1.0 and 0.0 <= out.metrics["mlm_accuracy"] <= 1.0


@pytest.mark.parametrize("guess", ["base_rate", "perfect"])
def test_disc_gain_is_base_rate_entropy_minus_disc_loss(
    task: Electra, batch: dict, guess: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """About 0 for the best constant guess logit(p), about H(p) for a perfect discriminator."""
    step = task.step
    real = batch["attention_mask"].bool()

    def with_logits(b: dict) -> object:
        out = step(b)
        p = out.replaced[real].float().mean()
        if guess == "base_rate":
            out.disc_logits = torch.full_like(out.disc_logits, float(torch.logit(p)))
        else:
            out.disc_logits = torch.where(out.replaced, 30.0, -30.0)
        out.disc_loss = F.binary_cross_entropy_with_logits(out.disc_logits[real], out.replaced[real].float())
        return out

    monkeypatch.setattr(task, "step", with_logits)
    metrics = {k: float(v) for k, v in task(batch).metrics.items()}  # scalars or device scalars
    p = metrics["replaced_fraction"]
    entropy = -(p * math.log(p) + (1 - p) * math.log(1 - p))
    assert 0.2 < entropy < 0.7  # a non-trivial replaced fraction in this batch
    expected = 0.0 if guess == "base_rate" else entropy
    assert metrics["disc_gain"] == pytest.approx(expected, abs=1e-4)


def test_a_few_steps_lower_both_losses(task: Electra, batch: dict) -> None:
    batch = {k: v[:12] for k, v in batch.items()}
    torch.manual_seed(4)
    with torch.no_grad():
        before = task.step(batch)
    train_steps(lambda _: task(batch), task, 10, lr=2e-3, optimizer=torch.optim.AdamW)
    torch.manual_seed(4)
    with torch.no_grad():
        after = task.step(batch)
    assert after.mlm_loss < before.mlm_loss - 0.5 and after.disc_loss < before.disc_loss - 0.1


def test_works_with_the_bert_encoder_and_checks_options(
    registry: Registry, pydocs_bundle: DatasetBundle
) -> None:
    task = build_task("electra", pydocs_bundle, "bert", {"generator_size": 0.5}, registry=registry)
    assert task.generator.electra.embeddings is task.encoder.model.embeddings
    assert task.generator.config.hidden_size == 64
    assert torch.isfinite(task(task.collate(list(pydocs_bundle.pretrain[:2]))).loss)
    with pytest.raises(ConfigError, match="generator_size"):
        build_task("electra", pydocs_bundle, task_options={"generator_size": 2.0}, registry=registry)
