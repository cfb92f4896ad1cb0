"""The masking rules of ``mlm`` (option ``masking``: BERT's tokens, whole words, SpanBERT
spans), checked on many texts."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps
from sslcore_nlp.masking import IGNORE, RULES, WordMasking, make_masking, select_spans, truncated_geometric

WORD_RULES = ("whole_word", "span")
#: tolerances of the selection rate, the [MASK] share and the random / kept shares (span: one
#: replacement draw per span, so fewer draws)
TOLERANCES = {"token": (0.01, 0.03, 0.025), "whole_word": (0.015, 0.03, 0.03), "span": (0.015, 0.05, 0.05)}


def _masked(bundle: DatasetBundle, masking: Callable) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """``masking`` of sentences of many lengths (so there is padding) and full packed blocks:
    the batch, the padded original ids and the special-or-padding mask."""
    tok = bundle.info["tokenizer"]
    samples = [inputs for inputs, _ in bundle.evaluation.dataset[:900]] + list(bundle.pretrain[:300])
    original = tok.pad(samples, return_tensors="pt")["input_ids"]
    torch.manual_seed(0)
    batch = masking(samples)
    special = torch.isin(original, torch.tensor(tok.all_special_ids))
    return batch, original, special


def _continuation(bundle: DatasetBundle, ids: torch.Tensor) -> torch.Tensor:
    tokens = np.array(
        bundle.info["tokenizer"].convert_ids_to_tokens(list(range(len(bundle.info["tokenizer"]))))
    )
    return torch.as_tensor(np.char.startswith(tokens, "##"))[ids]


@pytest.mark.parametrize("rule", RULES)
def test_rate_and_80_10_10_split(pydocs_bundle: DatasetBundle, rule: str) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    batch, original, special = _masked(pydocs_bundle, make_masking(tok, rule))
    rate_tolerance, mask_tolerance, tolerance = TOLERANCES[rule]
    selected = batch["labels"] != IGNORE
    assert (~special).sum() > 30_000
    assert selected[~special].float().mean().item() == pytest.approx(0.15, abs=rate_tolerance)
    ids = batch["input_ids"][selected]
    as_mask = (ids == tok.mask_token_id).float().mean().item()
    kept = (ids == original[selected]).float().mean().item()
    assert as_mask == pytest.approx(0.8, abs=mask_tolerance)
    assert kept == pytest.approx(0.1, abs=tolerance)
    assert 1 - as_mask - kept == pytest.approx(0.1, abs=tolerance)  # random tokens


@pytest.mark.parametrize("rule", RULES)
def test_special_padding_and_labels(pydocs_bundle: DatasetBundle, rule: str) -> None:
    pad_id = pydocs_bundle.info["tokenizer"].pad_token_id
    batch, original, special = _masked(pydocs_bundle, make_masking(pydocs_bundle.info["tokenizer"], rule))
    selected = batch["labels"] != IGNORE
    assert (original == pad_id).any()
    assert not selected[special].any()
    assert torch.equal(batch["input_ids"][special], original[special])
    assert torch.equal(batch["labels"][selected], original[selected])
    assert torch.equal(batch["input_ids"][~selected], original[~selected])
    assert torch.equal(batch["attention_mask"].bool(), original != pad_id)


@pytest.mark.parametrize("rule", WORD_RULES)
def test_words_are_masked_whole(pydocs_bundle: DatasetBundle, rule: str) -> None:
    masking = make_masking(pydocs_bundle.info["tokenizer"], rule)
    batch, original, special = _masked(pydocs_bundle, masking)
    selected = batch["labels"] != IGNORE
    continuation = _continuation(pydocs_bundle, original)
    # a ## token after a real token belongs to the same word: masked together or not at all
    inner = continuation[:, 1:] & ~special[:, :-1] & ~special[:, 1:]
    assert inner.sum() > 1000  # the tokenizer does split words
    assert torch.equal(selected[:, 1:][inner], selected[:, :-1][inner])
    # the chosen ranges are exactly the masked tokens and start / end at word boundaries
    rebuilt = torch.zeros_like(selected)
    for row, spans in enumerate(masking.last_spans):
        for start, end in spans:
            assert end > start and not rebuilt[row, start:end].any()
            rebuilt[row, start:end] = True
            assert not continuation[row, start] or special[row, start - 1]
            assert end == original.shape[1] or not continuation[row, end] or special[row, end]
    assert torch.equal(rebuilt, selected)
    if rule == "whole_word":  # one word per range: no ## inside that starts a new word
        words_per_range = [
            1 + int((~continuation[r, s + 1 : e]).sum())
            for r, row in enumerate(masking.last_spans)
            for s, e in row
        ]
        assert max(words_per_range) == 1


def test_spans_replace_together_and_are_at_most_ten_words(pydocs_bundle: DatasetBundle) -> None:
    mask_id = pydocs_bundle.info["tokenizer"].mask_token_id
    masking = make_masking(pydocs_bundle.info["tokenizer"], "span")
    batch, original, _ = _masked(pydocs_bundle, masking)
    continuation = _continuation(pydocs_bundle, original)
    uniform, multi, lengths = 0, 0, []
    for row, spans in enumerate(masking.last_spans):
        for start, end in spans:
            n_words = 1 + int((~continuation[row, start + 1 : end]).sum())
            assert n_words <= 10
            lengths.append(n_words)
            ids, orig = batch["input_ids"][row, start:end], original[row, start:end]
            if end - start > 1:
                multi += 1
                uniform += bool(
                    (ids == mask_id).all() or (ids == orig).all() or ((ids != mask_id) & (ids != orig)).all()
                )
    assert multi > 500 and uniform / multi > 0.98  # one decision per span (random ids may hit [MASK])
    assert 2.0 < np.mean(lengths) < 3.8  # geometric(0.2) truncated at 10 words, cut by the 15 % budget


def test_span_lengths_follow_truncated_geometric() -> None:
    probs = truncated_geometric(0.2, 10)
    assert probs.sum() == pytest.approx(1.0) and probs[0] / probs[1] == pytest.approx(1 / 0.8)
    mean = float((np.arange(1, 11) * probs).sum())
    assert mean == pytest.approx(3.8, abs=0.01)  # SpanBERT's reported mean span length
    words = [(i, i + 1) for i in range(40_000)]  # one long row of one-token words
    spans = select_spans(words, budget=2_000, length_probs=probs, rng=np.random.default_rng(0))
    lengths = np.array([e - s for s, e in spans])
    assert lengths.sum() == 2_000 and lengths.max() <= 10
    # few spans are cut (by a neighbour or the budget): the sample mean is close to 3.8
    assert lengths.mean() == pytest.approx(mean, abs=0.25)
    assert (lengths == 1).mean() == pytest.approx(probs[0], abs=0.04)


def test_mlm_mask_prob_option(registry: Registry, pydocs_bundle: DatasetBundle) -> None:
    options = {"mask_prob": 0.4, "mask_replace_prob": 1.0, "random_replace_prob": 0.0}
    task = build_task("mlm", pydocs_bundle, task_options=options, registry=registry)
    batch, _, special = _masked(pydocs_bundle, task.collate)
    selected = batch["labels"] != IGNORE
    assert selected[~special].float().mean().item() == pytest.approx(0.4, abs=0.02)
    assert (batch["input_ids"][selected] == pydocs_bundle.info["tokenizer"].mask_token_id).all()


def test_mlm_rejects_unknown_masking_rules(registry: Registry, pydocs_bundle: DatasetBundle) -> None:
    with pytest.raises(ConfigError, match="masking must be one of"):
        build_task("mlm", pydocs_bundle, task_options={"masking": "words"}, registry=registry)


@pytest.mark.parametrize("rule", WORD_RULES)
def test_mlm_masking_option_trains(
    registry: Registry, pydocs_bundle: DatasetBundle, small_bert: Callable, rule: str
) -> None:
    torch.manual_seed(0)
    task = build_task("mlm", pydocs_bundle, small_bert(), {"masking": rule}, registry=registry)
    assert isinstance(task.masking, WordMasking) and task.masking.rule == rule
    samples = list(pydocs_bundle.pretrain[:16])
    torch.manual_seed(1)
    held_out = task.collate(samples)
    with torch.no_grad():
        before = task(held_out).loss.item()
    train_steps(lambda _: task(task.collate(samples)), task, 12, lr=2e-3, optimizer=torch.optim.AdamW)
    with torch.no_grad():
        assert task(held_out).loss.item() < before - 1.0
