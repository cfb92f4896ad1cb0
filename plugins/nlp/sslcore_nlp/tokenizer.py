"""WordPiece tokenizers trained from text files with HF ``tokenizers``, wrapped as
``transformers.PreTrainedTokenizerFast`` and cached so each corpus is trained once.

The pipeline is BERT's (Devlin et al. 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding"): ``BertNormalizer`` (optionally lower-casing)
-> ``BertPreTokenizer`` -> ``WordPiece`` model -> ``[CLS] A [SEP]`` post-processing,
with the special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from sslcore.data import cache_dir
from sslcore.errors import ConfigError
from sslcore.io import remove_tree
from sslcore_nlp.data.text_files import TextFormatError, read_text

SPECIAL_TOKENS: dict[str, str] = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}


def train_wordpiece(
    texts: Sequence[str],
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """Train a BERT-style WordPiece tokenizer on ``texts`` (one sequence each); no caching.

    Deterministic: every ``##c`` of the corpus is declared up front in sorted order
    (huggingface/tokenizers#1794; see ``plugins/nlp/README.md``, "Tokenizer"), then the
    tokenizer is rebuilt from the learnt vocabulary so only the five BERT tokens are special.
    """
    lines = list(texts)
    if not any(line.strip() for line in lines):
        raise TextFormatError(
            f"train_wordpiece: the corpus has no text ({len(lines)} line(s), all blank); "
            "a tokenizer cannot be learnt from it"
        )
    backend = _bert_pipeline(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]), lowercase)
    chars: set[str] = set()  # every character inside a word, for its ``##c`` token
    for line in lines:
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(line)):
            chars.update(word[1:])
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS.values()) + ["##" + c for c in sorted(chars)],
        show_progress=False,
    )
    backend.train_from_iterator(lines, trainer)
    vocab = backend.get_vocab(with_added_tokens=False)
    backend = _bert_pipeline(models.WordPiece(vocab, unk_token=SPECIAL_TOKENS["unk_token"]), lowercase)
    backend.add_special_tokens(list(SPECIAL_TOKENS.values()))
    cls, sep = SPECIAL_TOKENS["cls_token"], SPECIAL_TOKENS["sep_token"]
    backend.post_processor = processors.BertProcessing(
        (sep, backend.token_to_id(sep)), (cls, backend.token_to_id(cls))
    )
    return PreTrainedTokenizerFast(tokenizer_object=backend, **SPECIAL_TOKENS)


def _bert_pipeline(model: models.Model, lowercase: bool) -> Tokenizer:
    backend = Tokenizer(model)
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    return backend


def load_tokenizer(directory: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer from a local directory (never the hub): one saved with
    ``save_pretrained`` (``tokenizer.json``), or a BERT-style ``vocab.txt`` (read as a
    WordPiece tokenizer with BERT's special tokens). It must have ``[CLS]``, ``[SEP]`` and
    ``[PAD]`` tokens (:class:`~sslcore.ConfigError` naming the missing ones)."""
    directory = Path(directory)
    if (directory / "tokenizer.json").is_file():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    elif (directory / "vocab.txt").is_file():
        tokenizer = BertTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    else:
        raise FileNotFoundError(
            f"no tokenizer.json or vocab.txt in {directory}: not a saved tokenizer directory"
        )
    missing = [n for n in ("cls_token", "sep_token", "pad_token") if getattr(tokenizer, f"{n}_id") is None]
    if missing:
        raise ConfigError(
            f"the tokenizer in {directory} has no {', '.join(missing)}; sslcore-nlp's datasets wrap texts as "
            "[CLS] ... [SEP] and pad batches, so save it with those special tokens (or train one: "
            "leave the tokenizer option unset)"
        )
    return tokenizer


def wordpiece_from_texts(
    texts: Sequence[str],
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
) -> PreTrainedTokenizerFast:
    """The WordPiece tokenizer of ``texts``, trained on first use and then loaded from
    ``cache_dir("tokenizers", <sha256 of the corpus and settings>)``."""
    settings = {"vocab_size": vocab_size, "lowercase": lowercase, "min_frequency": min_frequency}
    key = corpus_key(texts, settings)
    parent = cache_dir("tokenizers")
    target = parent / key
    if (target / "tokenizer.json").is_file():
        try:
            return load_tokenizer(target)
        except Exception:  # noqa: BLE001 - a damaged entry (cut short, edited): trained again below
            remove_tree(target)
    elif target.exists():  # an entry without its tokenizer (an older version's crash)
        remove_tree(target)
    tokenizer = train_wordpiece(texts, **settings)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=parent))
    try:
        tokenizer.save_pretrained(str(staging))
        try:
            os.replace(staging, target)  # atomic; another process may have won the race
        except OSError:
            if not (target / "tokenizer.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # whatever a failed save left
    return load_tokenizer(target)


def wordpiece_from_files(
    files: Sequence[str | Path],
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
    encoding: str = "utf-8",
) -> PreTrainedTokenizerFast:
    """The cached WordPiece tokenizer of text ``files`` in ``encoding`` (one sequence per
    line); files without any text raise :class:`TextFormatError` naming them."""
    lines = [line for path in files for line in read_text(path, encoding).split("\n")]
    if not any(line.strip() for line in lines):
        raise TextFormatError(f"no text in {', '.join(map(str, files))} (every line is blank)")
    return wordpiece_from_texts(lines, vocab_size, lowercase, min_frequency)


def corpus_key(texts: Sequence[str], settings: dict[str, object]) -> str:
    """sha256 of the corpus bytes, the settings and the recipe / library versions."""
    digest = hashlib.sha256("\n".join(texts).encode("utf-8"))
    versions = {"recipe": 1, "tokenizers": tokenizers.__version__}  # bump "recipe" when training changes
    digest.update(json.dumps({**settings, **versions}, sort_keys=True).encode())
    return digest.hexdigest()
