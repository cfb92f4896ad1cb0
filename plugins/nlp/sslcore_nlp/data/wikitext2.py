"""WikiText-2 (Merity et al. 2017, "Pointer Sentinel Mixture Models") for pretraining,
a SentEval set (SST-2 unless ``probe`` says otherwise) for evaluation.

Pretraining text: the paragraphs of ``<root>/text/corpus/wikitext-2-valid.txt`` (empty
and `` = Heading = `` lines skipped, ``<unk>`` read as ``[UNK]``) packed in file order into
``[CLS] ... [SEP]`` blocks of ``max_length`` tokens; see ``plugins/nlp/README.md``, "wikitext2".
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from annotated_types import Ge

from sslcore.data import DatasetBundle, require_files
from sslcore_nlp.data.senteval import senteval, senteval_set
from sslcore_nlp.data.text_files import TextFormatError, read_lines
from sslcore_nlp.data.tokenized import pack_blocks
from sslcore_nlp.tokenizer import load_tokenizer, wordpiece_from_files

CORPUS = "text/corpus/wikitext-2-valid.txt"


def paragraphs(lines: list[str]) -> list[str]:
    """Non-empty, non-heading lines (headings look like `` = Title = `` or `` = = Sub = = ``)."""
    kept = (line.strip() for line in lines)
    return [line for line in kept if line and not (line.startswith("=") and line.endswith("="))]


def wikitext2(
    root: Path | None,
    vocab_size: Annotated[int, Ge(1)] = 8000,
    max_length: Annotated[int, Ge(8)] = 128,
    lowercase: bool = True,
    tokenizer: str | None = None,
    probe: str = "sst2",
) -> DatasetBundle:
    """WikiText-2 paragraphs to pretrain on, a SentEval set to evaluate (``probe``:
    ``sst2`` train / val / test, ``mr`` / ``cr`` / ``mpqa`` / ``subj`` 10-fold CV,
    ``trec`` train / test).

    ``tokenizer``: a saved tokenizer directory to use instead of training one.
    ``info``: ``tokenizer``, ``max_length``, ``num_classes`` (the probe's), ``probe``.
    """
    if max_length < 8:
        raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
    root = require_files(
        "wikitext2",
        root,
        [CORPUS, *senteval_set(probe).files],
        hint="Point --data-root at the shared data folder (it holds text/corpus and text/senteval).",
    )
    if tokenizer is not None:
        tok = load_tokenizer(tokenizer)
    else:
        tok = wordpiece_from_files([root / CORPUS], vocab_size=vocab_size, lowercase=lowercase)
    texts = [text.replace("<unk>", tok.unk_token) for text in paragraphs(read_lines(root / CORPUS))]
    if not texts:
        raise TextFormatError(
            f"wikitext2: no paragraph of text in {root / CORPUS} (only blank and heading lines)"
        )
    return DatasetBundle(
        name="wikitext2",
        domain="nlp",
        sample="sentence",
        pretrain=pack_blocks(tok, texts, max_length),
        evaluation=senteval(root, probe, tok, max_length),
        info={
            "tokenizer": tok,
            "max_length": max_length,
            "num_classes": senteval_set(probe).num_classes,
            "probe": probe,
        },
    )
