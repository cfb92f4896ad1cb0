"""Exporting an encoder with ``save_pretrained`` and continuing from it (``pretrained=``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import BertModel

from sslcore.build import build_task
from sslcore.data import DatasetBundle
from sslcore.engine import CheckpointDir
from sslcore.errors import ConfigError
from sslcore.export import export_run, read_export
from sslcore.plugins import Registry
from sslcore.runs import pretrain
from sslcore.testing.steps import train_steps
from sslcore_nlp.encoders.bert import bert
from sslcore_nlp.encoders.electra import electra
from sslcore_nlp.export import save_pretrained
from sslcore_nlp.tokenizer import load_tokenizer, train_wordpiece


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("factory", [bert, electra])
def test_saved_encoder_loads_with_identical_weights(
    factory, pydocs_bundle: DatasetBundle, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    info = pydocs_bundle.info
    encoder = factory(info)
    save_pretrained(encoder, info["tokenizer"], tmp_path)
    assert (tmp_path / "config.json").is_file() and (tmp_path / "tokenizer.json").is_file()
    torch.manual_seed(1)  # a fresh random init would differ
    loaded = factory(info, pretrained=str(tmp_path), dropout=0.0)
    _same_weights(encoder, loaded)
    batch = dict(info["tokenizer"](["Return the socket.", "Open a file."], padding=True, return_tensors="pt"))
    encoder.eval(), loaded.eval()
    torch.testing.assert_close(loaded(batch), encoder(batch))
    assert load_tokenizer(tmp_path).get_vocab() == info["tokenizer"].get_vocab()


def test_continued_mlm_pretraining_keeps_weights_and_tokenizer(
    registry: Registry, pydocs_bundle: DatasetBundle, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    first = build_task("mlm", pydocs_bundle, encoder_options={"dropout": 0.0}, registry=registry)
    save_pretrained(first, pydocs_bundle.info["tokenizer"], tmp_path / "round1")
    task = build_task(
        "mlm",
        pydocs_bundle,
        encoder_options={"pretrained": str(tmp_path / "round1"), "dropout": 0.0},
        registry=registry,
    )
    _same_weights(first.encoder, task.encoder)
    assert task.masking.tokenizer is pydocs_bundle.info["tokenizer"]
    samples = list(pydocs_bundle.pretrain[:8])
    losses = train_steps(lambda _: task(task.collate(samples)), task, 3, lr=1e-3, optimizer=torch.optim.AdamW)
    assert all(math.isfinite(x) for x in losses)
    assert not torch.equal(
        task.encoder.model.embeddings.word_embeddings.weight,
        first.encoder.model.embeddings.word_embeddings.weight,
    )
    save_pretrained(task, pydocs_bundle.info["tokenizer"], tmp_path / "round2")
    _same_weights(task.encoder, bert(pydocs_bundle.info, pretrained=str(tmp_path / "round2")))


def test_vocabulary_mismatch_is_a_clear_error(pydocs_bundle: DatasetBundle, tmp_path: Path) -> None:
    save_pretrained(bert(pydocs_bundle.info), pydocs_bundle.info["tokenizer"], tmp_path)
    texts = ["the quick brown fox jumps over the lazy dog", "a socket is opened and closed"] * 4
    other = train_wordpiece(texts, vocab_size=60, min_frequency=1)
    info = {**pydocs_bundle.info, "tokenizer": other}
    n_saved, n_other = len(pydocs_bundle.info["tokenizer"]), len(other)
    assert n_saved != n_other
    with pytest.raises(ConfigError) as error:
        bert(info, pretrained=str(tmp_path))
    message = str(error.value)
    for part in (f"{n_saved} tokens", f"has {n_other}", f"tokenizer={tmp_path}"):
        assert part in message


def test_same_size_but_other_tokens_is_a_clear_error(pydocs_bundle: DatasetBundle, tmp_path: Path) -> None:
    tok = pydocs_bundle.info["tokenizer"]
    save_pretrained(bert(pydocs_bundle.info), tok, tmp_path)
    saved = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = saved["model"]["vocab"]
    first, second = [t for t in vocab if t.isalpha()][:2]
    vocab[first], vocab[second] = vocab[second], vocab[first]  # same size, two ids swapped
    (tmp_path / "tokenizer.json").write_text(json.dumps(saved), encoding="utf-8")
    assert len(load_tokenizer(tmp_path)) == len(tok)
    with pytest.raises(ConfigError, match=rf"different tokenizer .*\(both have {len(tok)} tokens"):
        bert(pydocs_bundle.info, pretrained=str(tmp_path))
    (tmp_path / "tokenizer.json").unlink()  # a model directory without its tokenizer
    with pytest.warns(UserWarning, match=r"no tokenizer.json .* only the vocabulary size"):
        bert(pydocs_bundle.info, pretrained=str(tmp_path))


def test_other_bad_pretrained_directories(pydocs_bundle: DatasetBundle, tmp_path: Path) -> None:
    info = pydocs_bundle.info
    with pytest.raises(ConfigError, match="no config.json"):
        bert(info, pretrained=str(tmp_path))
    save_pretrained(bert(info), info["tokenizer"], tmp_path)
    with pytest.raises(ConfigError, match="holds a 'bert' model"):
        electra(info, pretrained=str(tmp_path))
    with pytest.raises(ConfigError, match="max_length=64"):
        bert({**info, "max_length": 128}, pretrained=str(tmp_path))


def test_export_run_writes_the_trained_encoder(registry: Registry, tmp_path: Path) -> None:
    options = {
        "dataset_options": {"vocab_size": 2000, "max_length": 64},
        "encoder_options": {"pooling": "last"},
    }
    settings = {"steps": 2, "batch_size": 4, "device": "cpu", "progress_bar": False}
    pretrain("clm", "pydocs", tmp_path / "run", registry=registry, **options, **settings)
    written = export_run(tmp_path / "run", tmp_path / "export", registry=registry)
    # the core's layout (safetensors + sidecar), the transformers directory beside it (plugin hook)
    out = tmp_path / "export" / "transformers"
    assert written == {
        "weights": tmp_path / "export" / "encoder.safetensors",
        "sidecar": tmp_path / "export" / "encoder.json",
        "transformers": out,
    }
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
    checkpoint = CheckpointDir(tmp_path / "run" / "checkpoints").latest()[1]["model"]
    exported = BertModel.from_pretrained(str(out), local_files_only=True, add_pooling_layer=False)
    assert exported.config.is_decoder  # clm's causal encoder
    for key, value in exported.state_dict().items():
        assert torch.equal(value, checkpoint[f"encoder.model.{key}"]), key
    tensors, sidecar = read_export(tmp_path / "export")
    assert sidecar["task"] == "nlp:clm" and set(tensors) == {
        k.removeprefix("encoder.") for k in checkpoint if k.startswith("encoder.")
    }
