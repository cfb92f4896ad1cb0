"""SST-2 sentence sentiment (Socher et al. 2013, binary version as distributed with
SentEval): files ``stsa.binary.{train,dev,test}`` with ``<label> <sentence>`` per line,
6920 / 872 / 1821 sentences, labels 0 (negative) and 1 (positive).

A thin alias of the ``sst2`` row of :mod:`sslcore_nlp.data.senteval`."""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedTokenizerBase

from sslcore.data import EvalSet
from sslcore_nlp.data.senteval import SENTEVAL, read_labelled_sentences, senteval

SST2_FILES: dict[str, str] = dict(zip((s for s, _ in SENTEVAL["sst2"].splits), SENTEVAL["sst2"].files))


def sst2(root: Path, tokenizer: PreTrainedTokenizerBase, max_length: int) -> EvalSet:
    """SST-2 as one :class:`EvalSet` with splits ``train`` / ``val`` / ``test`` (in that
    row order); sentences longer than ``max_length`` tokens are truncated."""
    return senteval(root, "sst2", tokenizer, max_length)


__all__ = ["SST2_FILES", "read_labelled_sentences", "sst2"]
