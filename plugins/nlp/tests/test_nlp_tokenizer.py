from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerFast

from sslcore.errors import ConfigError
from sslcore_nlp.masking import make_masking
from sslcore_nlp.tokenizer import (
    SPECIAL_TOKENS,
    load_tokenizer,
    train_wordpiece,
    wordpiece_from_files,
    wordpiece_from_texts,
)

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "A lazy dog sleeps; the quick foxes keep jumping over sleeping dogs.",
    "Tokenizers split words into word pieces: jumping -> jump ##ing.",
    "Foxes, dogs and other animals jump, sleep and run quickly.",
] * 5


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSLCORE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_special_tokens_come_first_and_wrap_each_text(corpus_file: Path, cache: Path) -> None:
    tok = wordpiece_from_files([corpus_file], vocab_size=200)
    assert tok.convert_ids_to_tokens(list(range(5))) == list(SPECIAL_TOKENS.values())
    assert (tok.pad_token, tok.mask_token, tok.pad_token_id) == ("[PAD]", "[MASK]", 0)
    ids = tok("the lazy fox")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert len(tok) <= 200


def test_round_trip_recovers_normalised_text(corpus_file: Path, cache: Path) -> None:
    tok = wordpiece_from_files([corpus_file], vocab_size=200)
    text = "The quick foxes keep jumping over sleeping dogs."
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text.lower()


def test_lowercase_option_keeps_case(corpus_file: Path, cache: Path) -> None:
    cased = wordpiece_from_files([corpus_file], vocab_size=200, lowercase=False)
    assert "The" in cased.get_vocab()
    assert "The" not in wordpiece_from_files([corpus_file], vocab_size=200).get_vocab()


def test_cache_hit_returns_same_vocab_without_training(
    corpus_file: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = wordpiece_from_files([corpus_file], vocab_size=200)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached tokenizer was trained again")

    monkeypatch.setattr("sslcore_nlp.tokenizer.train_wordpiece", fail)
    second = wordpiece_from_files([corpus_file], vocab_size=200)
    assert second.get_vocab() == first.get_vocab()
    assert len(list((cache / "tokenizers").iterdir())) == 1
    with pytest.raises(AssertionError, match="trained again"):  # other settings -> other key
        wordpiece_from_files([corpus_file], vocab_size=150)


def test_corpus_change_misses_the_cache(corpus_file: Path, cache: Path) -> None:
    wordpiece_from_files([corpus_file], vocab_size=200)
    corpus_file.write_text("\n".join(CORPUS[:2]), encoding="utf-8")
    wordpiece_from_files([corpus_file], vocab_size=200)
    assert len(list((cache / "tokenizers").iterdir())) == 2


def test_training_is_deterministic() -> None:
    texts = CORPUS + ["Wel come to the Tok en izers libr ary, jump ##ing ov er."] * 2
    vocabs = [train_wordpiece(texts, vocab_size=120).get_vocab() for _ in range(8)]
    assert all(v == vocabs[0] for v in vocabs)


def test_saved_tokenizer_directory_loads(tmp_path: Path, cache: Path) -> None:
    tok = wordpiece_from_texts(CORPUS, vocab_size=200)
    tok.save_pretrained(str(tmp_path / "saved"))
    loaded = load_tokenizer(tmp_path / "saved")
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded("quick dogs")["input_ids"] == tok("quick dogs")["input_ids"]
    with pytest.raises(FileNotFoundError, match="no tokenizer.json or vocab.txt"):
        load_tokenizer(tmp_path)


def test_a_bert_style_vocab_txt_directory_loads(tmp_path: Path, cache: Path) -> None:
    tok = wordpiece_from_texts(CORPUS, vocab_size=200)
    vocab = sorted(tok.get_vocab().items(), key=lambda item: item[1])
    (tmp_path / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocab), encoding="utf-8")
    loaded = load_tokenizer(tmp_path)
    assert loaded.get_vocab() == tok.get_vocab()
    assert loaded("Quick dogs jumping")["input_ids"] == tok("Quick dogs jumping")["input_ids"]
    assert (loaded.cls_token_id, loaded.mask_token_id) == (tok.cls_token_id, tok.mask_token_id)


def test_a_tokenizer_without_the_needed_special_tokens_is_refused(tmp_path: Path, cache: Path) -> None:
    tok = wordpiece_from_texts(CORPUS, vocab_size=200)
    tok.pad_token = None  # saved without [PAD]
    tok.save_pretrained(str(tmp_path))
    with pytest.raises(ConfigError, match=r"has no pad_token; .* \[CLS\] \.\.\. \[SEP\] and pad"):
        load_tokenizer(tmp_path)
    tok = wordpiece_from_texts(CORPUS, vocab_size=200)
    tok.mask_token = None
    with pytest.raises(ConfigError, match=r"needs a tokenizer with a \[MASK\] token"):
        make_masking(tok, "span")
    with pytest.raises(ConfigError, match=r"\[MASK\]"):
        make_masking(tok, "token")


def test_a_failed_save_leaves_no_staging_folder_and_the_next_run_works(
    corpus_file: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(self, directory: str, **kwargs: object) -> None:
        (Path(directory) / "tokenizer.json").write_text('{"version": "1.0", "trunc')
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(PreTrainedTokenizerFast, "save_pretrained", disk_full)
        with pytest.raises(OSError, match="No space left"):
            wordpiece_from_files([corpus_file], vocab_size=200)
    assert list((cache / "tokenizers").iterdir()) == []  # no staging folder, no entry
    assert len(wordpiece_from_files([corpus_file], vocab_size=200)) <= 200


def test_a_damaged_cache_entry_is_rebuilt(corpus_file: Path, cache: Path) -> None:
    first = wordpiece_from_files([corpus_file], vocab_size=200)
    (entry,) = (cache / "tokenizers").iterdir()
    saved = entry / "tokenizer.json"
    saved.write_bytes(saved.read_bytes()[:100])  # cut short (a crash of another tool, a full disk)
    again = wordpiece_from_files([corpus_file], vocab_size=200)
    assert again.get_vocab() == first.get_vocab()
    assert [p.name for p in (cache / "tokenizers").iterdir()] == [entry.name]
    assert load_tokenizer(entry).get_vocab() == first.get_vocab()
