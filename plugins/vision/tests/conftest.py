from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import sslcore_vision.plugin
from sslcore import DatasetBundle
from sslcore.build import build_dataset, build_task
from sslcore.engine.config import TrainConfig
from sslcore.engine.trainer import Trainer
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


@pytest.fixture(scope="session")
def samples() -> Callable[..., list[torch.Tensor]]:
    """``samples(bundle, n=32)``: the first ``n`` pretraining images (uint8 ``[C, H, W]``),
    as the trainer hands them to ``collate``."""

    def first(bundle: DatasetBundle, n: int = 32) -> list[torch.Tensor]:
        return [bundle.pretrain[i] for i in range(n)]

    return first


@pytest.fixture(scope="session")
def eval_images() -> Callable[..., torch.Tensor]:
    """``eval_images(bundle, n=10)``: the first ``n`` evaluation images ``[n, C, H, W]``,
    normalised by the evaluation collate."""

    def first(bundle: DatasetBundle, n: int = 10) -> torch.Tensor:
        images, _ = bundle.evaluation.collate([bundle.evaluation.dataset[i] for i in range(n)])
        return images

    return first


@pytest.fixture(scope="session")
def fit() -> Callable[..., Any]:
    """``fit(task, data, steps=2, **config)``: ``steps`` trainer steps of 16 samples on the
    CPU, checked to end with a finite loss; returns the trainer's result."""

    def run(task: Any, data: Any, steps: int = 2, **config: Any) -> Any:
        settings = TrainConfig(steps=steps, batch_size=16, progress_bar=False, device="cpu", **config)
        result = Trainer(task, settings).fit(data)
        assert result.steps == steps and torch.isfinite(torch.tensor(result.final_loss))
        return result

    return run


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """Point sslcore's cache at an empty folder so extraction is exercised and $HOME untouched."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLCORE_CACHE", str(cache))
    return cache
