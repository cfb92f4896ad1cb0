from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import sslcore_vision.plugin
from sslcore import DatasetBundle
from sslcore.build import build_dataset, build_task
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
def make_view_task(registry: Registry, digits_bundle: DatasetBundle) -> Callable[..., Any]:
    """``make(name, seed=0, **options)``: a view task on digits with small heads (and queue)
    and a small encoder, built through ``build_task`` after seeding torch with ``seed``."""
    small = {"proj_dim": 32, "hidden_dim": 64}
    extra = {"moco_v2": {"queue_size": 256}}

    def make(name: str, seed: int = 0, **options: Any) -> Any:
        torch.manual_seed(seed)
        return build_task(
            name,
            digits_bundle,
            task_options={**small, **extra.get(name, {}), **options},
            encoder_options={"width": 8, "output_dim": 64},
            registry=registry,
        )

    return make


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point sslcore's cache at an empty folder so extraction is exercised and $HOME untouched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLCORE_CACHE", str(cache))
    return cache
