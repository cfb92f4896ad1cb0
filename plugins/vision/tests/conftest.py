from __future__ import annotations

import pytest

import sslcore_vision.plugin
from sslcore import DatasetBundle
from sslcore.build import build_dataset
from sslcore.plugins import Registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Only this plugin, registered in-process (other installed plugins cannot interfere)."""
    reg = Registry()
    reg.register(sslcore_vision.plugin, "vision", strict=True)
    return reg


@pytest.fixture(scope="session")
def digits_bundle(registry: Registry) -> DatasetBundle:
    return build_dataset("digits", None, registry=registry)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point sslcore's cache at an empty folder so extraction is exercised and $HOME untouched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLCORE_CACHE", str(cache))
    return cache
