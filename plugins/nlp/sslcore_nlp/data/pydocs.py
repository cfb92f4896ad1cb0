"""``pydocs``: a demo text dataset that ships with Python itself, no data root needed:
the docstring paragraphs of a fixed list of standard-library modules, labelled by the
module's topic (:data:`TOPICS`, 8 classes), with a fixed stratified 70/30 train/test
split. Selection rules: ``plugins/nlp/README.md``, "pydocs".
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType
from typing import Annotated

import numpy as np
from annotated_types import Ge
from sklearn.model_selection import train_test_split

from sslcore.data import DatasetBundle
from sslcore_nlp.data.tokenized import labelled_texts, pack_blocks
from sslcore_nlp.tokenizer import wordpiece_from_texts

TOPICS: dict[str, tuple[str, ...]] = {
    "text": ("re", "string", "textwrap", "difflib", "unicodedata", "codecs"),
    "data-structures": (
        "collections",
        "heapq",
        "bisect",
        "enum",
        "dataclasses",
        "copy",
        "functools",
        "itertools",
        "operator",
    ),
    "concurrency": (
        "asyncio",
        "threading",
        "multiprocessing",
        "concurrent.futures",
        "queue",
        "subprocess",
        "sched",
        "selectors",
    ),
    "internet": (
        "http.client",
        "http.server",
        "http.cookies",
        "urllib.request",
        "urllib.parse",
        "email.message",
        "email.parser",
        "email.utils",
        "smtplib",
        "imaplib",
        "poplib",
        "ftplib",
        "socket",
        "socketserver",
    ),
    "files": (
        "os",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "fnmatch",
        "io",
        "filecmp",
        "zipfile",
        "tarfile",
        "gzip",
    ),
    "testing": (
        "unittest",
        "unittest.mock",
        "doctest",
        "pdb",
        "trace",
        "timeit",
        "cProfile",
        "profile",
        "pstats",
    ),
    "formats": (
        "json",
        "csv",
        "configparser",
        "xml.dom.minidom",
        "xml.etree.ElementTree",
        "xml.sax",
        "html.parser",
        "plistlib",
        "pickle",
    ),
    "numbers": ("math", "decimal", "fractions", "statistics", "random", "numbers", "cmath"),
}


def _documented(module: ModuleType) -> list[object]:
    """The module, its public classes / functions defined in it and their public methods."""
    home = module.__name__
    found: list[object] = [module]
    for name, obj in sorted(vars(module).items()):
        owner = getattr(obj, "__module__", None) or ""
        if name.startswith("_") or not (inspect.isclass(obj) or inspect.isroutine(obj)):
            continue
        if owner.lstrip("_") != home and not owner.startswith(home + "."):
            continue
        found.append(obj)
        if inspect.isclass(obj):
            found += [m for n, m in sorted(vars(obj).items()) if not n.startswith("_") and _is_member(m)]
    return found


def _is_member(obj: object) -> bool:
    return inspect.isroutine(obj) or isinstance(obj, (property, classmethod, staticmethod))


def _paragraphs(obj: object, min_words: int) -> list[str]:
    doc = getattr(obj, "__doc__", None)  # not inspect.getdoc: no docstrings inherited from bases
    if not isinstance(doc, str):
        return []
    out = []
    for block in re.split(r"\n\s*\n", inspect.cleandoc(doc)):
        text = " ".join(block.split())
        if ">>>" not in text and len(re.findall(r"[A-Za-z]{2,}", text)) >= min_words:
            out.append(text)
    return out


def docstring_corpus(min_words: int = 8) -> tuple[list[str], list[int]]:
    """``(paragraphs, topic ids)`` over :data:`TOPICS`; modules missing from this Python
    are skipped."""
    topic_of: dict[str, set[int]] = {}
    for topic, modules in enumerate(TOPICS.values()):
        for name in modules:
            if importlib.util.find_spec(name.split(".")[0]) is None:
                continue
            for obj in _documented(importlib.import_module(name)):
                for text in _paragraphs(obj, min_words):
                    topic_of.setdefault(text, set()).add(topic)
    kept = [(text, topics.pop()) for text, topics in topic_of.items() if len(topics) == 1]
    return [t for t, _ in kept], [y for _, y in kept]


def pydocs(
    root: Path | None = None,
    vocab_size: Annotated[int, Ge(1)] = 4000,
    max_length: Annotated[int, Ge(3)] = 128,
    lowercase: bool = True,
    min_words: Annotated[int, Ge(0)] = 8,
) -> DatasetBundle:
    """Standard-library docstring paragraphs, labelled by topic; ``root`` is not used.

    ``info``: ``tokenizer`` (WordPiece trained on the paragraphs, cached), ``max_length``,
    ``num_classes``, ``classes`` (topic names).
    """
    texts, labels = docstring_corpus(min_words)
    tokenizer = wordpiece_from_texts(texts, vocab_size=vocab_size, lowercase=lowercase)
    train, test = train_test_split(np.arange(len(texts)), test_size=0.3, stratify=labels, random_state=0)
    splits = {"train": np.sort(train), "test": np.sort(test)}
    return DatasetBundle(
        name="pydocs",
        domain="nlp",
        sample="sentence",
        pretrain=pack_blocks(tokenizer, texts, max_length),
        evaluation=labelled_texts(tokenizer, texts, labels, splits, max_length, num_classes=len(TOPICS)),
        info={
            "tokenizer": tokenizer,
            "max_length": max_length,
            "num_classes": len(TOPICS),
            "classes": list(TOPICS),
        },
    )
