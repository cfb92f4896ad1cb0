"""Fixtures of the sslcore-nlp tests: an isolated cache folder and the pydocs bundle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

import sslcore_nlp.plugin
from sslcore.data import DatasetBundle
from sslcore.plugins import Registry


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


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """One intra-op thread per test: the models here are tiny, and on a shared 2-core
    machine OpenMP's two spinning threads are many times slower than one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
