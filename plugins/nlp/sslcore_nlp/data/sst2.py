"""SST-2 sentence sentiment (Socher et al. 2013, binary version as distributed with
SentEval): files ``stsa.binary.{train,dev,test}`` with ``<label> <sentence>`` per line,
6920 / 872 / 1821 sentences, labels 0 (negative) and 1 (positive)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from transformers import PreTrainedTokenizerBase

from sslcore.data import EvalSet
from sslcore_nlp.data.text_files import TextFormatError, read_lines
from sslcore_nlp.data.tokenized import labelled_texts

SST2_FILES: dict[str, str] = {
    "train": "text/senteval/stsa.binary.train",
    "val": "text/senteval/stsa.binary.dev",
    "test": "text/senteval/stsa.binary.test",
}


def read_labelled_sentences(path: str | Path) -> tuple[list[str], list[int]]:
    """``(sentences, labels)`` from a ``<int label> <sentence>`` file; blank lines skipped."""
    texts, labels = [], []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        if not label.isdigit() or not text:
            raise TextFormatError(f"{path}, line {number}: expected '<label> <sentence>', got {line[:60]!r}")
        texts.append(text)
        labels.append(int(label))
    return texts, labels


def sst2(root: Path, tokenizer: PreTrainedTokenizerBase, max_length: int) -> EvalSet:
    """SST-2 as one :class:`EvalSet` with splits ``train`` / ``val`` / ``test`` (in that
    row order); sentences longer than ``max_length`` tokens are truncated."""
    texts: list[str] = []
    labels: list[int] = []
    splits: dict[str, np.ndarray] = {}
    for split, relative in SST2_FILES.items():
        part_texts, part_labels = read_labelled_sentences(root / relative)
        splits[split] = np.arange(len(texts), len(texts) + len(part_texts))
        texts += part_texts
        labels += part_labels
    return labelled_texts(tokenizer, texts, labels, splits, max_length, num_classes=2)
