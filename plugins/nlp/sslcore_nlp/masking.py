"""Masking rules of masked language modelling: ``token`` (BERT, Devlin et al. 2019;
``transformers.DataCollatorForLanguageModeling`` itself), ``whole_word`` (BERT's
whole-word masking, google-research/bert ``create_pretraining_data.py``) and ``span``
(SpanBERT, Joshi et al. 2020: span lengths in words from ``P(l) ∝ p (1-p)^(l-1)``
truncated to ``1..max_span``, 80/10/10 *per span*); the word rules mask whole words up to
a budget of ``mask_prob * n`` of the ``n`` eligible tokens of a row. Every rule pads
``{"input_ids": [...]}`` samples into ``input_ids / attention_mask / labels [B, L]``
(labels the original id where a token is predicted, ``-100`` elsewhere). Details and
seeding: ``plugins/nlp/README.md``, "Masking rules".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from transformers import DataCollatorForLanguageModeling, PreTrainedTokenizerBase

from sslcore.errors import ConfigError

IGNORE = -100
RULES = ("token", "whole_word", "span")


def truncated_geometric(p: float, max_length: int) -> np.ndarray:
    """``P(l) = p (1-p)^(l-1) / Z`` for ``l = 1..max_length`` (SpanBERT's span lengths)."""
    lengths = np.arange(1, max_length + 1)
    weights = p * (1 - p) ** (lengths - 1)
    return weights / weights.sum()


def words(eligible: np.ndarray, continuation: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` token ranges of the words of one row: a word starts at an eligible
    token that is not a ``##`` continuation or follows a non-eligible token (a packed
    block may begin inside a word) and runs over the continuation tokens after it."""
    out: list[tuple[int, int]] = []
    for i in np.flatnonzero(eligible):
        if out and out[-1][1] == i and continuation[i]:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def select_whole_words(
    spans: list[tuple[int, int]], budget: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """Words taken whole in random order while the masked total stays ``<= budget``."""
    chosen, total = [], 0
    for k in rng.permutation(len(spans)):
        start, end = spans[k]
        if total + end - start <= budget:
            chosen.append((start, end))
            total += end - start
    return chosen


def select_spans(
    spans: list[tuple[int, int]],
    budget: int,
    length_probs: np.ndarray,
    rng: np.random.Generator,
) -> list[tuple[int, int]]:
    """SpanBERT spans of whole words (token ranges of the row) until ``budget`` tokens are
    masked. A span ends early at a special token, an already masked word or a word that
    would overshoot the budget (SpanBERT's code cuts that word; here words stay whole);
    it stops when no unmasked word fits the remaining budget."""
    if not spans:
        return []
    sizes = np.array([end - start for start, end in spans])
    word_at = np.repeat(np.arange(len(spans)), sizes)  # the word of each eligible token
    taken = np.zeros(len(spans), dtype=bool)
    chosen: list[tuple[int, int]] = []
    total = 0
    for _ in range(50 * len(spans)):  # anchors on masked or too-long words are redrawn
        room = budget - total
        if room <= 0 or not (sizes[~taken] <= room).any():
            break
        k = int(word_at[rng.integers(len(word_at))])
        if taken[k] or sizes[k] > room:
            continue
        n_words = 1 + int(rng.choice(len(length_probs), p=length_probs))
        start = end = spans[k][0]
        while (
            n_words and k < len(spans) and not taken[k] and spans[k][0] == end and total + sizes[k] <= budget
        ):
            taken[k] = True
            total += int(sizes[k])
            end = spans[k][1]
            k, n_words = k + 1, n_words - 1
        chosen.append((start, end))
    return chosen


class WordMasking:
    """Collate with the ``whole_word`` or ``span`` rule: ``samples -> {input_ids,
    attention_mask, labels}`` (+ ``token_type_ids`` if the tokenizer pads them).
    ``last_spans`` keeps the chosen ``[start, end)`` ranges of each row of the last batch
    (the replacement unit: a word's tokens for ``whole_word`` are replaced one by one)."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        rule: str,
        mask_prob: float = 0.15,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        span_p: float = 0.2,
        max_span: int = 10,
    ):
        if rule not in ("whole_word", "span"):
            raise ConfigError(f"WordMasking handles 'whole_word' and 'span', not {rule!r}")
        if not (0.0 < mask_prob < 1.0):
            raise ConfigError(f"mask_prob must be in (0, 1), got {mask_prob}")
        if min(mask_replace_prob, random_replace_prob) < 0 or mask_replace_prob + random_replace_prob > 1:
            raise ConfigError("mask_replace_prob and random_replace_prob must be >= 0 and sum to at most 1")
        if not (0.0 < span_p <= 1.0) or max_span < 1:
            raise ConfigError(f"span_p must be in (0, 1] and max_span >= 1, got {span_p}, {max_span}")
        self.tokenizer = tokenizer
        self.rule = rule
        self.mask_prob = mask_prob
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.length_probs = truncated_geometric(span_p, max_span)
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        self.continuation = np.array([t.startswith("##") for t in vocab])
        self.special = np.array(sorted(set(tokenizer.all_special_ids)))
        self.last_spans: list[list[tuple[int, int]]] = []

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        batch = dict(
            self.tokenizer.pad([{"input_ids": s["input_ids"]} for s in samples], return_tensors="pt")
        )
        ids = batch["input_ids"].numpy()
        rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        eligible = ~np.isin(ids, self.special)
        selected = np.zeros_like(eligible)
        unit = np.broadcast_to(np.arange(ids.shape[1]), ids.shape).copy()  # replacement unit per token
        self.last_spans = []
        for b in range(len(ids)):
            row_words = words(eligible[b], self.continuation[ids[b]])
            # randomised rounding (E = mask_prob * n), at least one unit per row like BERT's max(1, round(.))
            budget = max(1, int(np.floor(self.mask_prob * int(eligible[b].sum()) + rng.random())))
            if self.rule == "whole_word":
                spans = select_whole_words(row_words, budget, rng)
            else:
                spans = select_spans(row_words, budget, self.length_probs, rng)
            for start, end in spans:
                selected[b, start:end] = True
                if self.rule == "span":
                    unit[b, start:end] = start
            self.last_spans.append(sorted(spans))
        labels = np.where(selected, ids, IGNORE)
        draw = np.take_along_axis(rng.random(ids.shape), unit, axis=1)  # one draw per unit
        to_mask = selected & (draw < self.mask_replace_prob)
        to_random = selected & ~to_mask & (draw < self.mask_replace_prob + self.random_replace_prob)
        corrupted = np.where(to_mask, self.tokenizer.mask_token_id, ids)
        corrupted = np.where(to_random, rng.integers(len(self.tokenizer), size=ids.shape), corrupted)
        batch["input_ids"] = torch.as_tensor(corrupted, dtype=torch.long)
        batch["labels"] = torch.as_tensor(labels, dtype=torch.long)
        return batch


def make_masking(
    tokenizer: PreTrainedTokenizerBase,
    masking: str = "token",
    mask_prob: float = 0.15,
    mask_replace_prob: float = 0.8,
    random_replace_prob: float = 0.1,
    span_p: float = 0.2,
    max_span: int = 10,
) -> DataCollatorForLanguageModeling | WordMasking:
    """The collate function of masking rule ``masking`` (one of :data:`RULES`)."""
    if tokenizer.mask_token_id is None:
        raise ConfigError(
            "masked language modelling needs a tokenizer with a [MASK] token, and this one has none; "
            "use a tokenizer saved with a mask token (the plugin's WordPiece tokenizers have one)"
        )
    if masking == "token":
        return DataCollatorForLanguageModeling(
            tokenizer,
            mlm_probability=mask_prob,
            mask_replace_prob=mask_replace_prob,
            random_replace_prob=random_replace_prob,
        )
    if masking not in RULES:
        raise ConfigError(f"masking must be one of {', '.join(RULES)}, got {masking!r}")
    return WordMasking(
        tokenizer, masking, mask_prob, mask_replace_prob, random_replace_prob, span_p, max_span
    )
