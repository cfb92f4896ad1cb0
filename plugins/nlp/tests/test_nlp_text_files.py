from pathlib import Path

import pytest

from sslcore.build import build_dataset
from sslcore.errors import ConfigError, DataNotFoundError
from sslcore.plugins import Registry
from sslcore_nlp.data.text_corpus import text_files
from sslcore_nlp.data.text_files import TextFormatError
from sslcore_nlp.tokenizer import train_wordpiece, wordpiece_from_files

LINES = [
    "The lobster is blue. It turns red on cooking.",
    "",
    "   ",
    "Lobsters live on the sea floor and eat fish, molluscs and worms of the sea floor.",
    "Short line.",
] * 4
TEXTS = [line.strip() for line in LINES if line.strip()]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "a.txt").write_text("\n".join(LINES[:10]) + "\n", encoding="utf-8")
    (tmp_path / "corpus" / "b.txt").write_text("\r\n".join(LINES[10:]), encoding="utf-8")  # CRLF, no final NL
    return tmp_path


def _options(**more: object) -> dict:
    return {"files": "corpus/a.txt, corpus/b.txt", "vocab_size": 300, "max_length": 16, **more}


def test_packed_blocks_keep_every_token_of_every_line(root: Path, registry: Registry) -> None:
    bundle = build_dataset("text-files", root, _options(), registry)
    tok = bundle.info["tokenizer"]
    expected = [i for text in TEXTS for i in tok(text, add_special_tokens=False)["input_ids"]]
    blocks = [s["input_ids"] for s in bundle.pretrain]
    assert all(b[0] == tok.cls_token_id and b[-1] == tok.sep_token_id and len(b) <= 16 for b in blocks)
    assert [i for b in blocks for i in b[1:-1]] == expected
    assert bundle.evaluation is None and bundle.info["lines"] == len(TEXTS) == 12


def test_lines_mode_one_sample_per_line_and_counts_truncation(root: Path, registry: Registry) -> None:
    packed = build_dataset("text-files", root, _options(), registry)
    lines = build_dataset("text-files", root, _options(mode="lines"), registry)
    tok = lines.info["tokenizer"]
    full = tok(TEXTS)["input_ids"]
    samples = [s["input_ids"] for s in lines.pretrain]
    assert len(samples) == len(TEXTS) and all(len(s) <= 16 and s[-1] == tok.sep_token_id for s in samples)
    cut = sum(len(ids) > 16 for ids in full)
    assert lines.info["truncated_lines"] == cut == 4 and "truncated_lines" not in packed.info
    assert [s for s, ids in zip(samples, full) if len(ids) <= 16] == [ids for ids in full if len(ids) <= 16]
    assert sum(len(s) - 2 for s in samples) < sum(len(b["input_ids"]) - 2 for b in packed.pretrain)


def test_explicit_encoding_and_a_byte_that_does_not_decode(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 au lait . \ncr\xe8me . \n" * 3)
    bundle = text_files(
        tmp_path, ["latin.txt"], encoding="latin-1", vocab_size=100, mode="lines", lowercase=False
    )
    assert bundle.info["tokenizer"].decode(bundle.pretrain[0]["input_ids"][1:-1]).startswith("café au lait")
    with pytest.raises(
        TextFormatError, match=r"latin\.txt, line 1: not valid utf-8 .*declare the file's actual one"
    ):
        text_files(tmp_path, ["latin.txt"], vocab_size=100)


def test_a_tokenizer_is_not_trained_on_a_blank_corpus(tmp_path: Path) -> None:
    with pytest.raises(TextFormatError, match=r"the corpus has no text \(3 line\(s\), all blank\)"):
        train_wordpiece(["", "  ", "\t"])
    (tmp_path / "blank.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(TextFormatError, match=r"no text in .*blank\.txt"):
        wordpiece_from_files([tmp_path / "blank.txt"])
    (tmp_path / "latin.txt").write_bytes("caf\xe9 au lait . na\xefve text .\n".encode("latin-1"))
    with pytest.raises(TextFormatError, match=r"latin\.txt, line 1: not valid utf-8"):
        wordpiece_from_files([tmp_path / "latin.txt"])
    tok = wordpiece_from_files([tmp_path / "latin.txt"], vocab_size=60, min_frequency=1, encoding="latin-1")
    assert tok.tokenize("café naïve") == ["cafe", "naive"]  # decoded as latin-1, accents stripped


def test_empty_corpus_missing_files_and_bad_options_are_clear(tmp_path: Path) -> None:
    (tmp_path / "blank.txt").write_text("\n  \n\n", encoding="utf-8")
    with pytest.raises(TextFormatError, match=r"no text in .*blank\.txt \(every line is blank\)"):
        text_files(tmp_path, "blank.txt")
    with pytest.raises(DataNotFoundError, match=r"nope\.txt"):
        text_files(tmp_path, "blank.txt,nope.txt")
    with pytest.raises(ConfigError, match="needs `files`"):
        text_files(tmp_path)
    with pytest.raises(ConfigError, match="mode must be one of packed, lines"):
        text_files(tmp_path, "blank.txt", mode="sentences")


def test_probe_adds_a_senteval_set(root: Path) -> None:
    folder = root / "text" / "senteval"
    folder.mkdir(parents=True)
    (folder / "custrev.pos").write_text("great .\nfine .\n", encoding="latin-1")
    (folder / "custrev.neg").write_text("broken .\n", encoding="latin-1")
    bundle = text_files(root, ["corpus/a.txt"], vocab_size=300, max_length=16, probe="cr")
    assert bundle.evaluation.splits is None and [y for _, y in bundle.evaluation.dataset] == [1, 1, 0]
    assert (bundle.info["probe"], bundle.info["num_classes"]) == ("cr", 2)
