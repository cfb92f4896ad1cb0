"""``text-files``: pretraining text from the user's own plain files, in an explicit encoding.
Each non-blank stripped line is one paragraph; ``mode="packed"`` packs their tokens into
``[CLS] ... [SEP]`` blocks of ``max_length`` tokens (:func:`~sslcore_nlp.data.tokenized.pack_blocks`),
``mode="lines"`` makes each line one sample, truncated (see ``plugins/nlp/README.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from annotated_types import Ge
from transformers import PreTrainedTokenizerBase

from sslcore.data import DatasetBundle, require_files
from sslcore.errors import ConfigError
from sslcore_nlp.data.senteval import senteval, senteval_set
from sslcore_nlp.data.text_files import TextFormatError, read_lines
from sslcore_nlp.data.tokenized import Sample, pack_blocks
from sslcore_nlp.tokenizer import load_tokenizer, wordpiece_from_texts

MODES = ("packed", "lines")


def file_list(files: str | Sequence[str]) -> list[str]:
    """``files`` as a list: a sequence, or one comma-separated string."""
    names = files.split(",") if isinstance(files, str) else list(files)
    names = [str(name).strip() for name in names if str(name).strip()]
    if not names:
        raise ConfigError("text-files needs `files`: one or more paths relative to the data root")
    return names


def truncated_lines(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_length: int
) -> tuple[list[Sample], int]:
    """One ``[CLS] ... [SEP]`` sample per text, cut to ``max_length`` tokens, and how many were cut."""
    samples, cut = [], 0
    for ids in tokenizer(list(texts))["input_ids"]:
        if len(ids) > max_length:
            ids, cut = [*ids[: max_length - 1], tokenizer.sep_token_id], cut + 1
        samples.append({"input_ids": ids})
    return samples, cut


def text_files(
    root: Path | None,
    files: str | Sequence[str] = (),
    encoding: str = "utf-8",
    mode: str = "packed",
    max_length: Annotated[int, Ge(8)] = 128,
    vocab_size: Annotated[int, Ge(1)] = 8000,
    lowercase: bool = True,
    tokenizer: str | None = None,
    probe: str | None = None,
) -> DatasetBundle:
    """Pretraining samples from plain text ``files`` (relative to ``root``, a list or a
    comma-separated string) decoded with ``encoding``; a byte that does not decode raises
    :class:`TextFormatError` naming the file and line.

    ``probe``: a SentEval set (``sst2``, ``mr``, ``cr``, ``mpqa``, ``subj``, ``trec``) under
    ``<root>/text/senteval`` as the evaluation set; ``None`` (default): no evaluation set.
    ``info``: ``tokenizer``, ``max_length``, ``mode``, ``lines``, ``truncated_lines``
    (lines mode), plus ``num_classes`` and ``probe`` with a probe.
    """
    if mode not in MODES:
        raise ConfigError(f"text-files: mode must be one of {', '.join(MODES)}, got {mode!r}")
    if max_length < 8:
        raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
    names = file_list(files)
    probe_files = senteval_set(probe).files if probe is not None else []
    root = require_files("text-files", root, [*names, *probe_files])
    texts = [line.strip() for name in names for line in read_lines(root / name, encoding)]
    texts = [text for text in texts if text]
    if not texts:
        raise TextFormatError(
            f"text-files: no text in {', '.join(str(root / n) for n in names)} (every line is blank)"
        )
    tok = (
        load_tokenizer(tokenizer)
        if tokenizer is not None
        else wordpiece_from_texts(texts, vocab_size, lowercase)
    )
    info = {"tokenizer": tok, "max_length": max_length, "mode": mode, "lines": len(texts)}
    if mode == "packed":
        pretrain = pack_blocks(tok, texts, max_length)
    else:
        pretrain, info["truncated_lines"] = truncated_lines(tok, texts, max_length)
    evaluation = None
    if probe is not None:
        evaluation = senteval(root, probe, tok, max_length)
        info.update(num_classes=senteval_set(probe).num_classes, probe=probe)
    return DatasetBundle("text-files", "nlp", "sentence", pretrain, evaluation, info)
