"""Tokenised text samples and the padding collate of labelled text.

Pretraining samples are ``{"input_ids": list[int]}`` blocks (tokenised once, when the
dataset is built); evaluation items are ``({"input_ids": list[int]}, label)`` and
:class:`PadCollate` batches them into ``(BatchEncoding[input_ids, attention_mask: [B, L]],
labels [B])``.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from typing import Any

import numpy as np
import torch
from transformers import BatchEncoding, DataCollatorWithPadding, PreTrainedTokenizerBase

from sslcore.data import EvalSet

Sample = dict[str, list[int]]


def pack_blocks(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int) -> list[Sample]:
    """Concatenate the tokens of ``texts`` (in order) and cut the stream into blocks of
    ``max_length - 2`` tokens, each wrapped as ``[CLS] ... [SEP]``: no padding is
    wasted and no text dropped (RoBERTa's FULL-SENTENCES packing; the last block may be
    shorter)."""
    if not any(text.strip() for text in texts):
        raise ValueError("pack_blocks: no text to pack (the corpus is empty or blank)")
    stream = list(chain.from_iterable(tokenizer(list(texts), add_special_tokens=False)["input_ids"]))
    size = max_length - 2
    return [
        {"input_ids": [tokenizer.cls_token_id, *stream[i : i + size], tokenizer.sep_token_id]}
        for i in range(0, len(stream), size)
    ]


def tokenize_truncated(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> list[Sample]:
    """Each text as one sample, truncated to ``max_length`` tokens including ``[CLS]``/``[SEP]``."""
    encoded = tokenizer(list(texts), max_length=max_length, truncation=True)
    return [{"input_ids": ids} for ids in encoded["input_ids"]]


class PadCollate:
    """``[(sample, label), ...] -> (padded BatchEncoding, LongTensor labels)`` with
    ``transformers.DataCollatorWithPadding``; picklable for loader worker processes."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")

    def __call__(self, items: list[tuple[Sample, int]]) -> tuple[BatchEncoding, torch.Tensor]:
        samples, labels = zip(*items)
        return self.pad(list(samples)), torch.as_tensor(labels)


def labelled_texts(
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    labels: Sequence[int],
    splits: dict[str, np.ndarray] | None,
    max_length: int,
    num_classes: int,
) -> EvalSet:
    """An :class:`EvalSet` of truncated tokenised ``texts`` with integer ``labels``."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    samples = tokenize_truncated(tokenizer, texts, max_length)
    items: list[tuple[Sample, Any]] = list(zip(samples, (int(y) for y in labels)))
    return EvalSet(items, splits, collate=PadCollate(tokenizer), num_classes=num_classes)
