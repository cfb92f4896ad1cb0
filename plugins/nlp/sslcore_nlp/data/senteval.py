"""SentEval-style sentence classification sets (Conneau & Kiela 2018, "SentEval: An
Evaluation Toolkit for Universal Sentence Representations") read from their original
plain files under ``<root>/text/senteval/`` in their real encodings (:data:`SENTEVAL`).
Binary sets (MR, CR, MPQA, SUBJ) have no fixed split (``splits=None``: 10-fold CV);
SST-2 has train / val / test, TREC train / test. Files, encodings and row counts:
``plugins/nlp/README.md``, "SentEval probes".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from sslcore.data import EvalSet
from sslcore.errors import ConfigError
from sslcore_nlp.data.text_files import TextFormatError, read_lines
from sslcore_nlp.data.tokenized import labelled_texts

FOLDER = "text/senteval"
TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")  # SentEval's label order

Parser = Callable[[Path, str], tuple[list[str], list[int]]]


def read_labelled_sentences(path: str | Path, encoding: str = "utf-8") -> tuple[list[str], list[int]]:
    """``(sentences, labels)`` from a ``<int label> <sentence>`` file; blank lines skipped."""
    texts, labels = [], []
    for number, line in enumerate(read_lines(path, encoding), start=1):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        if not label.isdigit() or not text:
            raise TextFormatError(f"{path}, line {number}: expected '<label> <sentence>', got {line[:60]!r}")
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def read_trec(path: str | Path, encoding: str = "latin-1") -> tuple[list[str], list[int]]:
    """``(questions, coarse labels)`` from a ``<COARSE>:<fine> <question>`` file (TREC,
    Li & Roth 2002); labels index :data:`TREC_CLASSES`; blank lines skipped."""
    texts, labels = [], []
    for number, line in enumerate(read_lines(path, encoding), start=1):
        if not line.strip():
            continue
        tag, _, text = line.strip().partition(" ")
        coarse = tag.split(":", 1)[0]
        if ":" not in tag or coarse not in TREC_CLASSES or not text:
            raise TextFormatError(
                f"{path}, line {number}: expected '<COARSE>:<fine> <question>' with COARSE in "
                f"{'/'.join(TREC_CLASSES)}, got {line[:60]!r}"
            )
        texts.append(text)
        labels.append(TREC_CLASSES.index(coarse))
    return texts, labels


@dataclass(frozen=True)
class SentEvalSet:
    """One table row: files (relative to ``<root>/text/senteval``), their encoding and
    how they become labelled rows.

    ``classes`` set: one file per class, one sentence per line, label = position in
    ``classes`` counted from the end (SentEval gives the first file label 1).
    ``splits`` set: split name -> file, each read with ``parser``.
    """

    encoding: str
    num_classes: int
    classes: tuple[str, ...] = ()
    splits: tuple[tuple[str, str], ...] = ()
    parser: Parser | None = None

    @property
    def files(self) -> list[str]:
        names = self.classes or [name for _, name in self.splits]
        return [f"{FOLDER}/{name}" for name in names]


SENTEVAL: dict[str, SentEvalSet] = {
    "mr": SentEvalSet("cp1252", 2, classes=("rt-polarity.pos", "rt-polarity.neg")),
    "cr": SentEvalSet("latin-1", 2, classes=("custrev.pos", "custrev.neg")),
    "mpqa": SentEvalSet("latin-1", 2, classes=("mpqa.pos", "mpqa.neg")),
    "subj": SentEvalSet("latin-1", 2, classes=("subj.objective", "subj.subjective")),
    "sst2": SentEvalSet(
        "utf-8",
        2,
        splits=(("train", "stsa.binary.train"), ("val", "stsa.binary.dev"), ("test", "stsa.binary.test")),
        parser=read_labelled_sentences,
    ),
    "trec": SentEvalSet(
        "latin-1",
        len(TREC_CLASSES),
        splits=(("train", "train_5500.label"), ("test", "TREC_10.label")),
        parser=read_trec,
    ),
}


def senteval_set(name: str) -> SentEvalSet:
    """The table row of ``name``; :class:`ConfigError` listing the choices otherwise."""
    try:
        return SENTEVAL[name]
    except KeyError:
        raise ConfigError(f"unknown SentEval probe {name!r}; choose one of {', '.join(SENTEVAL)}") from None


def read_senteval(root: Path, name: str) -> tuple[list[str], list[int], dict[str, np.ndarray] | None]:
    """``(texts, labels, splits)`` of SentEval set ``name`` under ``root``; ``splits`` is
    ``None`` for the sets without a fixed split (cross-validation)."""
    table = senteval_set(name)
    texts: list[str] = []
    labels: list[int] = []
    if table.classes:
        for position, path in enumerate(table.files):
            lines = read_lines(Path(root) / path, table.encoding)
            texts += [line.strip() for line in lines]
            labels += [len(table.classes) - 1 - position] * len(lines)
        return texts, labels, None
    assert table.parser is not None
    splits: dict[str, np.ndarray] = {}
    for (split, _), path in zip(table.splits, table.files):
        part_texts, part_labels = table.parser(Path(root) / path, table.encoding)
        splits[split] = np.arange(len(texts), len(texts) + len(part_texts))
        texts += part_texts
        labels += part_labels
    return texts, labels, splits


def senteval(root: Path, name: str, tokenizer: PreTrainedTokenizerBase, max_length: int) -> EvalSet:
    """SentEval set ``name`` as one :class:`EvalSet` (sentences truncated to ``max_length``
    tokens), rows in file order."""
    texts, labels, splits = read_senteval(root, name)
    return labelled_texts(
        tokenizer, texts, labels, splits, max_length, num_classes=senteval_set(name).num_classes
    )
