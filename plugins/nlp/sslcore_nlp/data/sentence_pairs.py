"""Sentence splitting and the (segment A, segment B) pairs of next sentence prediction
(BERT, Devlin et al. 2019) and sentence order prediction (ALBERT, Lan et al. 2020).

A *document* is a list of sentences, a sentence a list of tokens (token ids, or any
items); it is cut in two at a uniformly drawn sentence boundary, ``A`` = sentences
``[0, k)``, ``B`` = ``[k, n)`` (BERT's and ALBERT's ``create_pretraining_data`` choose
``a_end`` so). SOP: ``(A, B)`` label 0 or ``(B, A)`` label 1; NSP: ``(A, B)`` label 0 or
``(A, B')`` label 1, ``B'`` whole consecutive sentences of another document that fit in
``len(B)`` tokens. A pair is encoded ``[CLS] A [SEP] B [SEP]``. Sentence boundaries,
truncation and why a one-sentence document gives no pair: ``plugins/nlp/README.md``,
"Tasks ``sop`` and ``nsp``".
"""

from __future__ import annotations

import random
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

from transformers import PreTrainedTokenizerBase

from sslcore.errors import SSLCoreError

SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
TERMINALS = (".", "!", "?")
GLUE = "@"  # WikiText writes "3.5" as "3 @.@ 5" and "1,000" as "1 @,@ 000"

Sentence = Sequence[Any]
Document = Sequence[Sentence]


class TooFewSentencesError(SSLCoreError, ValueError):
    """The texts cannot make the segment pairs a task needs."""


@dataclass(frozen=True)
class Pair:
    """Segments ``a`` and ``b`` (token lists) and the pair's label."""

    a: list[Any]
    b: list[Any]
    label: int


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.``, ``!`` or ``?`` followed by whitespace."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def sentence_end_ids(tokenizer: PreTrainedTokenizerBase) -> tuple[frozenset[int], frozenset[int]]:
    """``(ids of the . ! ? tokens, ids of the @ token)`` in ``tokenizer``'s vocabulary."""
    vocab = tokenizer.get_vocab()
    return frozenset(vocab[t] for t in TERMINALS if t in vocab), frozenset(
        vocab[t] for t in (GLUE,) if t in vocab
    )


def split_token_sentences(
    ids: Sequence[int], end_ids: Collection[int], glue_ids: Collection[int] = ()
) -> list[list[int]]:
    """Cut ``ids`` after each sentence-final token (one of ``end_ids`` with no ``glue_ids``
    token right before or after it); the pieces, in order, hold every token."""
    sentences: list[list[int]] = []
    current: list[int] = []
    for i, token in enumerate(ids):
        current.append(token)
        glued = (i > 0 and ids[i - 1] in glue_ids) or (i + 1 < len(ids) and ids[i + 1] in glue_ids)
        if token in end_ids and not glued:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


def sentence_documents(
    tokenizer: PreTrainedTokenizerBase, paragraphs: Sequence[str]
) -> list[list[list[int]]]:
    """Each paragraph split with :func:`split_sentences`, each sentence tokenised (no special tokens)."""
    documents = []
    for paragraph in paragraphs:
        sentences = split_sentences(paragraph)
        ids = tokenizer(sentences, add_special_tokens=False)["input_ids"] if sentences else []
        documents.append([s for s in ids if s])
    return documents


def split_document(document: Document, rng: random.Random) -> tuple[list[Any], list[Any]]:
    """``(A, B)``: the document cut at a uniformly drawn sentence boundary. Needs at
    least 2 (non-empty) sentences."""
    sentences = [s for s in document if len(s)]
    if len(sentences) < 2:
        raise TooFewSentencesError(
            f"a document needs at least 2 sentences to be cut in two, got {len(sentences)}"
        )
    k = rng.randint(1, len(sentences) - 1)
    return list(chain.from_iterable(sentences[:k])), list(chain.from_iterable(sentences[k:]))


def _sentences(document: Document) -> int:
    return sum(1 for s in document if len(s))


def _usable(documents: Sequence[Document], task: str, needed: int) -> list[int]:
    usable = [i for i, d in enumerate(documents) if _sentences(d) >= 2]
    if len(usable) < needed:
        raise TooFewSentencesError(
            f"{task} needs at least {needed} text(s) of 2 or more sentences to build segment pairs; got "
            f"{len(usable)} such of {len(documents)} (with {sum(map(_sentences, documents))} sentences in "
            "all); use a corpus whose lines (or packed blocks) hold several sentences"
        )
    return usable


def sop_pairs(documents: Sequence[Document], rng: random.Random) -> list[Pair]:
    """One sentence-order pair per document with at least 2 sentences: ``(A, B, 0)`` or
    ``(B, A, 1)`` with equal chance. Raises :class:`TooFewSentencesError` if none has."""
    pairs = []
    for i in _usable(documents, "sentence order prediction", 1):
        a, b = split_document(documents[i], rng)
        pairs.append(Pair(b, a, 1) if rng.random() < 0.5 else Pair(a, b, 0))
    return pairs


def nsp_pairs(documents: Sequence[Document], rng: random.Random) -> list[Pair]:
    """One next-sentence pair per document with at least 2 sentences: ``(A, B, 0)`` or, with
    probability 0.5, ``(A, B', 1)`` with ``B'`` from another document (see the module
    docstring). Needs 2 such documents (a negative must come from somewhere else)."""
    usable = _usable(documents, "next sentence prediction", 2)
    others = [i for i, d in enumerate(documents) if _sentences(d)]  # any token
    pairs = []
    for i in usable:
        a, b = split_document(documents[i], rng)
        if rng.random() < 0.5:
            pairs.append(Pair(a, b, 0))
            continue
        other = [s for s in documents[rng.choice([j for j in others if j != i])] if len(s)]
        start = rng.randrange(len(other))
        random_b = list(other[start])
        for sentence in other[start + 1 :]:  # whole sentences while they fit in len(B)
            if len(random_b) + len(sentence) > len(b):
                break
            random_b += sentence
        pairs.append(Pair(a, random_b, 1))
    return pairs


def truncate_pair(
    a: Sequence[Any], b: Sequence[Any], max_tokens: int, rng: random.Random
) -> tuple[list, list]:
    """Copies of ``a``, ``b`` with at most ``max_tokens`` tokens together: one token at a
    time is removed from the longer segment, from its front or back with equal chance."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_tokens:
        longer = a if len(a) > len(b) else b
        longer.pop(0 if rng.random() < 0.5 else -1)
    return a, b


def encode_pair(
    pair: Pair, tokenizer: PreTrainedTokenizerBase, max_length: int, rng: random.Random
) -> dict[str, list[int]]:
    """``[CLS] A [SEP] B [SEP]`` with ``token_type_ids`` (0 for ``[CLS] A [SEP]``, 1 for
    ``B [SEP]``), at most ``max_length`` tokens (see :func:`truncate_pair`)."""
    a, b = truncate_pair(pair.a, pair.b, max_length - 3, rng)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    return {"input_ids": [cls, *a, sep, *b, sep], "token_type_ids": [0] * (len(a) + 2) + [1] * (len(b) + 1)}


def complete_sentences(pieces: list[list[int]], end_ids: Collection[int]) -> list[list[int]]:
    """The pieces of a packed block that are whole sentences: without the first (a block
    may start mid-sentence) and without a last one that has no end mark; all pieces if
    fewer than 2 would remain.

    Without this, SOP has a shortcut: in a block cut mid-sentence, ``A`` ends with ``.``
    exactly when the pair is in order."""
    inner = [p for p in pieces[1:] if p[-1] in end_ids]
    return inner if len(inner) >= 2 else pieces


class SampleDocuments:
    """Pretraining samples ``{"input_ids": [...]}`` (packed blocks or lines) -> documents:
    the special tokens removed, the rest split with :func:`split_token_sentences`, then
    reduced to :func:`complete_sentences`."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.end_ids, self.glue_ids = sentence_end_ids(tokenizer)
        self.special = frozenset(tokenizer.all_special_ids) - {tokenizer.unk_token_id}

    def content(self, sample: dict[str, Sequence[int]]) -> list[int]:
        """The sample's tokens without special tokens (``[UNK]`` kept)."""
        return [t for t in sample["input_ids"] if t not in self.special]

    def __call__(self, samples: Sequence[dict[str, Sequence[int]]]) -> list[list[list[int]]]:
        return [
            complete_sentences(
                split_token_sentences(self.content(s), self.end_ids, self.glue_ids),
                self.end_ids,
            )
            for s in samples
        ]
