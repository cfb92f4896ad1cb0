"""Shared fixtures of the graph plugin's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data

from sslcore_graph.datasets.sbm import sbm_graph


@pytest.fixture
def small_graph() -> Data:
    """A 90-node, 3-class SBM graph with 8 features."""
    return sbm_graph(
        num_classes=3, nodes_per_class=30, p_in=0.2, p_out=0.01, num_features=8, noise=1.0, seed=1
    )


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Processed files go to a per-session temporary cache, never to ~/.cache or the data root."""
    monkeypatch.setenv("SSLCORE_CACHE", str(tmp_path_factory.getbasetemp() / "sslcore-cache"))
    torch.manual_seed(0)


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own (``$SSLCORE_CACHE``), to inspect what a reader leaves."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SSLCORE_CACHE", str(cache))
    return cache
