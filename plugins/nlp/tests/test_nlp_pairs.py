import random
from pathlib import Path

import pytest
import torch

from sslcore.build import build_dataset, build_task
from sslcore.data import DatasetBundle
from sslcore.engine.config import TrainConfig
from sslcore.engine.trainer import Trainer
from sslcore.plugins import Registry
from sslcore.testing.steps import train_steps
from sslcore_nlp.data.sentence_pairs import (
    Pair,
    SampleDocuments,
    TooFewSentencesError,
    complete_sentences,
    encode_pair,
    nsp_pairs,
    sentence_documents,
    sop_pairs,
    split_sentences,
    split_token_sentences,
    truncate_pair,
)
from sslcore_nlp.tasks.pair_prediction import NextSentencePrediction, SentenceOrderPrediction


def _documents(count: int = 40) -> list[list[list[int]]]:
    """Document d holds tokens d*1000 + k, in order, in 1 to 4 sentences of 2-5 tokens."""
    rng = random.Random(7)
    docs = []
    for d in range(count):
        token = d * 1000
        sentences = []
        for _ in range(rng.randint(1, 4)):
            length = rng.randint(2, 5)
            sentences.append(list(range(token, token + length)))
            token += length
        docs.append(sentences)
    return docs


def _flat(doc: list[list[int]]) -> list[int]:
    return [t for s in doc for t in s]


def test_regex_and_token_sentence_splitters() -> None:
    text = "The lobster is blue. It grows to 3.5 kg! Does it? Yes  it does"
    assert split_sentences(text) == [
        "The lobster is blue.",
        "It grows to 3.5 kg!",
        "Does it?",
        "Yes  it does",
    ]
    assert split_sentences("  ") == []
    # 9 = ".", 8 = "@": WikiText's "3 @.@ 5" is no boundary; the last piece has no end mark
    ids = [1, 2, 9, 3, 8, 9, 8, 4, 9, 5, 6]
    assert split_token_sentences(ids, {9}, {8}) == [[1, 2, 9], [3, 8, 9, 8, 4, 9], [5, 6]]


def test_sop_pairs_are_in_order_or_really_swapped() -> None:
    docs = _documents()
    usable = [d for d in docs if len(d) >= 2]  # a one-sentence document gives no pair
    pairs = sop_pairs(docs, random.Random(0))
    assert len(pairs) == len(usable) < len(docs) and {p.label for p in pairs} == {0, 1}
    assert 0.3 < sum(p.label for p in pairs) / len(pairs) < 0.7
    for pair, doc in zip(pairs, usable):
        first, second = (pair.a, pair.b) if pair.label == 0 else (pair.b, pair.a)
        assert first + second == _flat(doc) and first and second  # consecutive, nothing lost
        assert len(first) in {sum(len(s) for s in doc[:k]) for k in range(1, len(doc))}  # at a boundary


def test_nsp_negatives_come_from_another_document() -> None:
    docs = _documents()
    pairs = nsp_pairs(docs, random.Random(1))
    usable = [i for i, d in enumerate(docs) if len(d) >= 2]
    assert len(pairs) == len(usable) and {p.label for p in pairs} == {0, 1}
    for pair, i in zip(pairs, usable):
        doc = docs[i]
        tokens = _flat(doc)
        assert pair.a == tokens[: len(pair.a)]  # A is always the document's start
        if pair.label == 0:
            assert pair.a + pair.b == tokens
        else:
            source = {t // 1000 for t in pair.b}
            assert len(source) == 1 and i not in source  # one other document
            other = docs[source.pop()]
            runs = [_flat(other[j:k]) for j in range(len(other)) for k in range(j + 1, len(other) + 1)]
            assert pair.b in runs  # whole consecutive sentences
            assert len(pair.b) <= len(tokens) - len(pair.a) or pair.b in [list(s) for s in other]


def test_too_few_sentences_name_the_count_needed() -> None:
    with pytest.raises(TooFewSentencesError, match=r"needs at least 1 text\(s\) of 2 or more sentences"):
        sop_pairs([[[5]], []], random.Random(0))
    with pytest.raises(TooFewSentencesError, match=r"needs at least 2 text\(s\).*got 1 such of 1"):
        nsp_pairs([[[1, 2], [3, 4]]], random.Random(0))
    # one-sentence texts (a corpus of single sentences) give no pair: too few sentences
    with pytest.raises(
        TooFewSentencesError, match=r"got 0 such of 2 \(with 2 sentences in all\); use a corpus"
    ):
        sop_pairs([[[5]], [[1, 2, 3]]], random.Random(0))
    assert len(sop_pairs([[[5]], [[1, 2], [3]]], random.Random(0))) == 1


def test_encoding_truncates_the_longer_segment_and_sets_segment_ids(pydocs_bundle: DatasetBundle) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    rng = random.Random(0)
    a, b = truncate_pair(list(range(10)), list(range(100, 104)), 8, rng)
    assert len(b) == 4 and len(a) == 4 and a == list(range(10))[a[0] : a[0] + 4]  # a contiguous run of A
    encoded = encode_pair(Pair([11, 12, 13, 14, 15], [21, 22], 1), tok, 8, rng)
    ids, types = encoded["input_ids"], encoded["token_type_ids"]
    assert len(ids) == 8 and ids[0] == tok.cls_token_id and ids.count(tok.sep_token_id) == 2
    assert ids[-3:] == [21, 22, tok.sep_token_id] and types == [0, 0, 0, 0, 0, 1, 1, 1]


def test_text_documents_and_sample_documents(pydocs_bundle: DatasetBundle) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    docs = sentence_documents(tok, ["Return the socket. Open a file!", "Parse it"])
    assert [len(d) for d in docs] == [2, 1]
    block = {"input_ids": [tok.cls_token_id, *_flat(docs[0]), *_flat(docs[1]), tok.sep_token_id]}
    assert SampleDocuments(tok)([block]) == [[*docs[0], *docs[1]]]  # blocks: split at . ! ? tokens
    assert SampleDocuments(tok)([{"input_ids": block["input_ids"][:-3]}]) == [docs[0]]


def test_blocks_keep_whole_sentences_when_they_can() -> None:
    # a block cut mid-sentence at both ends: the edges go, so A and B both end with "."
    pieces = [[1, 9], [2, 3, 9], [4, 9], [5, 6]]
    assert complete_sentences(pieces, {9}) == [[2, 3, 9], [4, 9]]
    assert complete_sentences(pieces[1:], {9}) == pieces[1:]  # fewer than 2 would remain: keep all


@pytest.mark.parametrize("task_class", [SentenceOrderPrediction, NextSentencePrediction])
def test_collate_builds_labelled_pairs_from_pretraining_samples(
    task_class: type, pydocs_bundle: DatasetBundle
) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    encoder = torch.nn.Linear(1, 1)
    encoder.output_dim = 4
    task = task_class(encoder, tok, max_length=80)  # room for the third [SEP]: no truncation
    samples = list(pydocs_bundle.pretrain[:16])
    torch.manual_seed(0)
    batch = task.collate(samples)
    assert batch["input_ids"].shape == batch["token_type_ids"].shape == batch["attention_mask"].shape
    torch.manual_seed(0)
    assert torch.equal(task.collate(samples)["input_ids"], batch["input_ids"])  # seeded by torch
    usable = [s for s in samples if sum(1 for x in task.documents([s])[0] if x) >= 2]
    assert len(batch["labels"]) == len(usable) > 0
    for row, label, sample in zip(batch["input_ids"], batch["labels"], usable):
        ids = row[row != tok.pad_token_id].tolist()
        first_sep = ids.index(tok.sep_token_id)
        a, b = ids[1:first_sep], ids[first_sep + 1 : -1]
        content = [t for s in task.documents([sample])[0] for t in s]  # whole sentences of the block
        assert any(
            sample["input_ids"][i : i + len(content)] == content for i in range(len(sample["input_ids"]))
        )
        if label == 0:
            assert a + b == content
        elif task_class is SentenceOrderPrediction:
            assert b + a == content
        else:
            assert a == content[: len(a)] and b != content[len(a) : len(a) + len(b)]


def test_sop_works_on_wikitext2_without_options(shared_data: Path, registry: Registry) -> None:
    bundle = build_dataset("wikitext2", shared_data, registry=registry)  # the tokenizer other tests cached
    task = build_task("sop", bundle, registry=registry)
    tok, period = bundle.info["tokenizer"], bundle.info["tokenizer"].convert_tokens_to_ids(".")
    torch.manual_seed(0)
    samples = list(bundle.pretrain[:32])
    batch = task.collate(samples)
    usable = [d for d in task.documents(samples) if sum(1 for x in d if x) >= 2]
    assert batch["input_ids"].shape[1] <= 128 and len(batch["labels"]) == len(usable) >= 24
    ends = {0: [], 1: []}
    for row, label in zip(batch["input_ids"].tolist(), batch["labels"].tolist()):
        first_sep = row.index(tok.sep_token_id)
        last_sep = len(row) - 1 - row[::-1].index(tok.sep_token_id)
        ends[label] += [row[first_sep - 1] == period, row[last_sep - 1] == period]
    # both segments are whole sentences in either order: "A ends a sentence" tells nothing
    assert ends[0] and ends[1] and all(ends[0]) and all(ends[1])


@pytest.mark.parametrize("name", ["sop", "nsp"])
def test_a_corpus_of_single_sentences_stops_at_the_first_batch(
    name: str, tmp_path: Path, registry: Registry
) -> None:
    sentences = [f"Sentence number {i} is about lobsters and the sea floor." for i in range(40)]
    (tmp_path / "one.txt").write_text("\n".join(sentences) + "\n", encoding="utf-8")
    options = {"files": "one.txt", "vocab_size": 200, "max_length": 32, "mode": "lines"}
    bundle = build_dataset("text-files", tmp_path, options, registry)
    task = build_task(name, bundle, registry=registry)
    before = {k: v.clone() for k, v in task.state_dict().items()}
    config = TrainConfig(steps=3, batch_size=8, progress_bar=False, device="cpu", warmup=0.0)
    with pytest.raises(TooFewSentencesError, match=r"of 2 or more sentences .* got 0 such of 8"):
        Trainer(task, config).fit(bundle.pretrain)
    assert all(torch.equal(v, task.state_dict()[k]) for k, v in before.items())  # no update was made


@pytest.mark.parametrize("name", ["sop", "nsp"])
def test_joint_mlm_masks_only_content_tokens_and_keeps_the_pair_labels(
    name: str, registry: Registry, pydocs_bundle: DatasetBundle
) -> None:
    """BERT / ALBERT's joint objective: 15 % of the non-special tokens masked (80/10/10),
    the pair label and segment ids as without MLM."""
    tok = pydocs_bundle.info["tokenizer"]
    torch.manual_seed(0)
    task = build_task(name, pydocs_bundle, task_options={"mlm_weight": 1.0}, registry=registry)
    plain = build_task(name, pydocs_bundle, registry=registry)
    samples = list(pydocs_bundle.pretrain[:64])
    torch.manual_seed(1)
    batch = task.collate(samples)
    torch.manual_seed(1)
    reference = plain.collate(samples)
    assert torch.equal(batch["labels"], reference["labels"]) and batch["labels"].dim() == 1
    assert torch.equal(batch["token_type_ids"], reference["token_type_ids"])
    assert torch.equal(batch["attention_mask"], reference["attention_mask"])
    original, masked_ids, mlm_labels = reference["input_ids"], batch["input_ids"], batch["mlm_labels"]
    special = torch.isin(original, torch.tensor([tok.cls_token_id, tok.sep_token_id, tok.pad_token_id]))
    chosen = mlm_labels != -100
    assert not (chosen & special).any()  # [CLS], [SEP] and padding are never masked
    assert torch.equal(mlm_labels[chosen], original[chosen])
    assert torch.equal(masked_ids[~chosen], original[~chosen])  # nothing else changes
    rate = chosen.sum() / (~special).sum()
    assert 0.11 < rate < 0.19
    assert (masked_ids[chosen] == tok.mask_token_id).float().mean() > 0.65  # 80 % become [MASK]


def test_joint_loss_is_pair_loss_plus_weighted_mlm_and_trains(
    registry: Registry, pydocs_bundle: DatasetBundle
) -> None:
    torch.manual_seed(0)
    options = {"task_options": {"mlm_weight": 0.5}, "encoder_options": {"dropout": 0.0}}
    task = build_task("sop", pydocs_bundle, registry=registry, **options)
    assert task.decoder.predictions.decoder.weight is task.encoder.model.get_input_embeddings().weight
    batch = task.collate(list(pydocs_bundle.pretrain[:32]))
    out = task(batch)
    assert out.loss.item() == pytest.approx(
        float(out.metrics["pair_loss"] + 0.5 * out.metrics["mlm_loss"]), rel=1e-5
    )
    assert out.metrics["masked_tokens"] > 0 and 0.0 <= out.metrics["sop_accuracy"] <= 1.0
    first = out.loss.item()
    train_steps(lambda _: task(batch), task, 8, lr=1e-3)
    assert task(batch).loss.item() < first
    plain = build_task("sop", pydocs_bundle, registry=registry)
    assert not hasattr(plain, "decoder")  # default: pair loss only


def test_negative_mlm_weight_is_a_config_error(registry: Registry, pydocs_bundle: DatasetBundle) -> None:
    from sslcore.errors import ConfigError

    with pytest.raises(ConfigError, match=r"option mlm_weight=-1\.0: must be >= 0"):
        build_task("nsp", pydocs_bundle, task_options={"mlm_weight": -1.0}, registry=registry)
