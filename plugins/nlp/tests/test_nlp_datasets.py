import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from sslcore.build import build_dataset
from sslcore.data import DatasetBundle
from sslcore.errors import DataNotFoundError
from sslcore.plugins import Registry
from sslcore_nlp.data.pydocs import TOPICS
from sslcore_nlp.data.senteval import FOLDER, SENTEVAL
from sslcore_nlp.data.text_files import TextFormatError
from sslcore_nlp.data.wikitext2 import CORPUS, paragraphs, wikitext2


@pytest.fixture(scope="module")
def wiki(shared_data: Path, registry: Registry) -> DatasetBundle:
    return build_dataset("wikitext2", shared_data, registry=registry)


def _copy_root(shared_data: Path, tmp_path: Path) -> Path:
    for relative in [CORPUS, *SENTEVAL["sst2"].files]:
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_data / relative, tmp_path / relative)
    return tmp_path


def test_sst2_splits_have_published_sizes(wiki: DatasetBundle) -> None:
    evalset = wiki.evaluation
    assert {k: len(v) for k, v in evalset.splits.items()} == {"train": 6920, "val": 872, "test": 1821}
    assert len(evalset.dataset) == 6920 + 872 + 1821
    assert np.array_equal(np.concatenate(list(evalset.splits.values())), np.arange(len(evalset.dataset)))
    assert {label for _, label in evalset.dataset} == {0, 1} and evalset.num_classes == 2
    inputs, labels = evalset.collate([evalset.dataset[i] for i in (0, 1, 2)])
    assert inputs["input_ids"].shape == inputs["attention_mask"].shape and labels.tolist() == [
        evalset.dataset[i][1] for i in (0, 1, 2)
    ]


def test_pretraining_windows_are_wrapped_and_bounded(wiki: DatasetBundle) -> None:
    tok, max_length = wiki.info["tokenizer"], wiki.info["max_length"]
    assert max_length == 128 and wiki.info["num_classes"] == 2
    ids = [s["input_ids"] for s in wiki.pretrain]
    assert all(s[0] == tok.cls_token_id and s[-1] == tok.sep_token_id and len(s) <= max_length for s in ids)
    text = " ".join(tok.decode(s[1:-1]) for s in ids[:200])
    assert "< unk >" not in text and " = = " not in text


def test_shorter_windows_lose_no_text(wiki: DatasetBundle, shared_data: Path) -> None:
    short = wikitext2(shared_data, max_length=32)
    assert all(len(s["input_ids"]) <= 32 for s in short.pretrain)
    assert len(short.pretrain) > len(wiki.pretrain)
    content = sum(len(s["input_ids"]) - 2 for s in short.pretrain)
    assert content == sum(len(s["input_ids"]) - 2 for s in wiki.pretrain)


def test_paragraphs_skip_blank_and_heading_lines() -> None:
    lines = [" ", " = Homarus = ", " Body text . ", "", " = = Description = = ", " More = text . "]
    assert paragraphs(lines) == ["Body text .", "More = text ."]


@pytest.mark.parametrize(
    "file,content,match",
    [
        (CORPUS, b"\n  \n\n", r"no text in .*wikitext-2-valid\.txt \(every line is blank\)"),
        (
            CORPUS,
            b" = Homarus = \n\n = = Description = = \n",
            r"wikitext2: no paragraph of text in .*wikitext-2-valid\.txt",
        ),
        (CORPUS, b" = Title = \n ok line \n caf\xe9 latin-1 \n", r"wikitext-2-valid\.txt, line 3"),
        (f"{FOLDER}/stsa.binary.dev", b"1 a fine movie\nno label here\n", r"stsa\.binary\.dev, line 2"),
    ],
)
def test_a_bad_corpus_or_sst2_file_is_named(shared_data: Path, tmp_path: Path, file, content, match) -> None:
    root = _copy_root(shared_data, tmp_path)
    (root / file).write_bytes(content)
    with pytest.raises(TextFormatError, match=match):
        wikitext2(root)


def test_missing_root_names_expected_files(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match=r"wikitext-2-valid\.txt") as info:
        wikitext2(tmp_path)
    assert "stsa.binary.test" in str(info.value)
    with pytest.raises(DataNotFoundError, match="no --data-root"):
        wikitext2(None)


def test_pydocs_needs_no_root_and_has_topic_classes(pydocs_bundle: DatasetBundle) -> None:
    evalset = pydocs_bundle.evaluation
    labels = np.array([label for _, label in evalset.dataset])
    assert len(set(labels)) >= 2 and evalset.num_classes == len(TOPICS) == len(pydocs_bundle.info["classes"])
    train, test = evalset.splits["train"], evalset.splits["test"]
    assert not set(train) & set(test) and len(train) + len(test) == len(labels)
    share = {k: v / len(test) for k, v in Counter(labels[test]).items()}
    for topic, count in Counter(labels[train]).items():  # stratified: same class shares
        assert share[topic] == pytest.approx(count / len(train), abs=0.01)
    assert all(len(s["input_ids"]) <= pydocs_bundle.info["max_length"] for s in pydocs_bundle.pretrain)


def test_pydocs_is_deterministic(pydocs_bundle: DatasetBundle, registry: Registry) -> None:
    again = build_dataset("pydocs", None, {"vocab_size": 2000, "max_length": 64}, registry)
    assert again.pretrain == pydocs_bundle.pretrain
    assert [y for _, y in again.evaluation.dataset] == [y for _, y in pydocs_bundle.evaluation.dataset]
    assert np.array_equal(again.evaluation.splits["test"], pydocs_bundle.evaluation.splits["test"])
