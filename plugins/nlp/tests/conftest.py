"""Fixtures of the sslcore-nlp tests: an isolated cache folder, the pydocs bundle and small BERTs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
from transformers import BertConfig

import sslcore_nlp.plugin
from sslcore.data import DatasetBundle
from sslcore.plugins import Registry
from sslcore_nlp.encoders.bert import BertEncoder


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Trained tokenizers go to a temporary ``SSLCORE_CACHE``, shared by the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SSLCORE_CACHE", str(tmp_path_factory.mktemp("sslcore-cache")))
        yield


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Only this plugin, registered in-process (other installed plugins cannot interfere)."""
    reg = Registry()
    reg.register(sslcore_nlp.plugin, "nlp", distribution="sslcore-nlp", strict=True)
    return reg


@pytest.fixture(scope="session")
def pydocs_bundle() -> DatasetBundle:
    from sslcore_nlp.data.pydocs import pydocs

    return pydocs(vocab_size=2000, max_length=64)


@pytest.fixture
def small_bert(pydocs_bundle: DatasetBundle) -> Callable[..., BertEncoder]:
    """``make(width=64, dropout=0.0, causal=False)``: a randomly initialised 1-layer BERT over
    the pydocs tokenizer, ``width`` hidden units, 2 heads, a ``2 * width`` FFN."""
    tok = pydocs_bundle.info["tokenizer"]

    def make(width: int = 64, dropout: float = 0.0, causal: bool = False) -> BertEncoder:
        config = BertConfig(
            vocab_size=len(tok),
            hidden_size=width,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=2 * width,
            max_position_embeddings=pydocs_bundle.info["max_length"],
            hidden_dropout_prob=dropout,
            attention_probs_dropout_prob=dropout,
            pad_token_id=tok.pad_token_id,
            is_decoder=causal,
            use_cache=False,
        )
        return BertEncoder(config)

    return make


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """One intra-op thread per test: the models here are tiny, and on a shared 2-core
    machine OpenMP's two spinning threads are many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
