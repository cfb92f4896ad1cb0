from pathlib import Path

import numpy as np
import pytest

from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError, DataNotFoundError
from sslcore.evaluation.linear import linear_probe
from sslcore_nlp.data.senteval import FOLDER, SENTEVAL, TREC_CLASSES, read_senteval, senteval
from sslcore_nlp.data.text_files import TextFormatError
from sslcore_nlp.data.wikitext2 import CORPUS, wikitext2


def _write(root: Path, name: str, data: bytes) -> None:
    path = root / FOLDER / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


FAKE_FILES = {
    # MR is Windows-1252: \xe9 = e-acute, \x85 = ellipsis (U+0085, a line separator, in latin-1)
    "rt-polarity.pos": b"a clich\xe9 but fun \x85 really . \nwarm and witty . \n",
    "rt-polarity.neg": b"dull . \nflat \x96 lifeless . \nbad . \n",
    "custrev.pos": b"great remote .\n\nworks well .\n",  # a blank line, as in CR
    "custrev.neg": b"broke fast .\n",
    "mpqa.pos": b"is happy\n",
    "mpqa.neg": b"complaining\nfailing to support\n",
    "subj.objective": b"the film follows a family .\nit is set in paris .\n",
    "subj.subjective": b"a bold , lovely film .\n",
    "stsa.binary.train": "1 crème brûlée fine .\n0 poor .\n1 good .\n".encode(),
    "stsa.binary.dev": b"0 meh .\n",
    "stsa.binary.test": b"1 great .\n0 awful .\n",
    "train_5500.label": b"DESC:manner How did serfdom develop in and then leave Russia ?\n"
    b"ENTY:cremat What films featured the character Popeye Doyle ?\n"
    b"NUM:date When was Ozzy Osbourne born ?\nHUM:ind Who killed Gandhi ?\n",
    "TREC_10.label": b"LOC:city What is the capital of Peru ?\nABBR:exp What does NASA stand for ?\n",
}


@pytest.fixture
def fake_root(tmp_path: Path) -> Path:
    """Tiny files in the original formats and encodings."""
    for name, data in FAKE_FILES.items():
        _write(tmp_path, name, data)
    corpus = tmp_path / CORPUS
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text(" = Title = \n The lobster is blue . It grows large . \n" * 3, encoding="utf-8")
    return tmp_path


def test_binary_sets_read_their_encodings_and_label_first_file_1(fake_root: Path) -> None:
    texts, labels, splits = read_senteval(fake_root, "mr")
    assert splits is None and labels == [1, 1, 0, 0, 0]
    assert texts[0] == "a cliché but fun … really ." and texts[3] == "flat – lifeless ."
    texts, labels, splits = read_senteval(fake_root, "cr")
    assert texts == ["great remote .", "", "works well .", "broke fast ."] and labels == [1, 1, 1, 0]
    assert read_senteval(fake_root, "mpqa")[1] == [1, 0, 0]
    texts, labels, _ = read_senteval(fake_root, "subj")
    assert labels == [1, 1, 0] and texts[2] == "a bold , lovely film ."  # objective = 1, as SentEval


def test_split_sets_keep_their_splits(fake_root: Path) -> None:
    texts, labels, splits = read_senteval(fake_root, "sst2")
    assert {k: v.tolist() for k, v in splits.items()} == {"train": [0, 1, 2], "val": [3], "test": [4, 5]}
    assert texts[0] == "crème brûlée fine ." and labels == [1, 0, 1, 0, 1, 0]
    texts, labels, splits = read_senteval(fake_root, "trec")
    assert {k: v.tolist() for k, v in splits.items()} == {"train": [0, 1, 2, 3], "test": [4, 5]}
    assert [TREC_CLASSES[y] for y in labels] == ["DESC", "ENTY", "NUM", "HUM", "LOC", "ABBR"]
    assert texts[3] == "Who killed Gandhi ?" and SENTEVAL["trec"].num_classes == 6


def test_malformed_trec_line_names_file_and_line(fake_root: Path) -> None:
    _write(fake_root, "TREC_10.label", b"LOC:city Where ?\nWHAT:x Not a coarse class ?\n")
    with pytest.raises(TextFormatError, match=r"TREC_10\.label, line 2"):
        read_senteval(fake_root, "trec")


def test_a_byte_that_does_not_decode_names_file_and_line(fake_root: Path) -> None:
    _write(fake_root, "stsa.binary.test", b"1 fine .\n0 caf\xe9 latin-1 .\n")  # SST-2 is UTF-8
    with pytest.raises(TextFormatError, match=r"stsa\.binary\.test, line 2: not valid utf-8"):
        read_senteval(fake_root, "sst2")


@pytest.mark.parametrize(("probe", "splits", "classes"), [("mpqa", None, 2), ("trec", {"train", "test"}, 6)])
def test_wikitext2_probe_selects_the_evaluation_set(
    fake_root: Path, probe: str, splits: set | None, classes: int
) -> None:
    bundle = wikitext2(fake_root, vocab_size=200, max_length=16, probe=probe)
    evalset = bundle.evaluation
    assert (bundle.info["probe"], bundle.info["num_classes"], evalset.num_classes) == (
        probe,
        classes,
        classes,
    )
    assert (evalset.splits if splits is None else set(evalset.splits)) == splits
    inputs, labels = evalset.collate([evalset.dataset[i] for i in range(len(evalset.dataset))])
    assert inputs["input_ids"].shape[1] <= 16 and len(labels) == len(read_senteval(fake_root, probe)[1])


def test_missing_probe_files_are_named_and_unknown_probe_is_refused(fake_root: Path) -> None:
    (fake_root / FOLDER / "subj.subjective").unlink()
    with pytest.raises(DataNotFoundError, match=r"subj\.subjective") as info:
        wikitext2(fake_root, probe="subj")
    assert "subj.objective" not in str(info.value)  # only the missing one
    with pytest.raises(ConfigError, match="choose one of mr, cr, mpqa, subj, sst2, trec"):
        wikitext2(fake_root, probe="sst5")


def test_senteval_evaluation_set_keeps_the_file_order(fake_root: Path, pydocs_bundle: DatasetBundle) -> None:
    evalset = senteval(fake_root, "sst2", pydocs_bundle.info["tokenizer"], 32)
    assert [y for _, y in evalset.dataset] == [1, 0, 1, 0, 1, 0]


def test_real_files_have_the_documented_counts(shared_data: Path) -> None:
    for name, (pos, neg) in {"mr": (5331, 5331), "cr": (2407, 1368), "mpqa": (3312, 7294)}.items():
        texts, labels, splits = read_senteval(shared_data, name)
        assert splits is None and (labels.count(1), labels.count(0)) == (pos, neg), name
        assert not any("\x80" <= ch <= "\x9f" for text in texts for ch in text), name  # no C1 controls
    mr = " ".join(read_senteval(shared_data, "mr")[0])
    assert "clichés" in mr and "…" in mr  # cp1252 decodes the MR bytes to what they were


def test_cross_validated_probe_runs_on_a_set_without_splits(fake_root: Path) -> None:
    _write(fake_root, "mpqa.pos", b"".join(b"good thing %d\n" % i for i in range(20)))
    _write(fake_root, "mpqa.neg", b"".join(b"bad thing %d\n" % i for i in range(20)))
    texts, labels, splits = read_senteval(fake_root, "mpqa")
    X = np.array([[t.startswith("good"), t.startswith("bad")] for t in texts], dtype=float)
    result = linear_probe(X, np.array(labels), splits, folds=10)
    assert result.test_accuracy == 1.0 and result.test_std is not None  # k-fold CV, not a split
