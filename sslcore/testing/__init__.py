"""Helpers for tests of sslcore and of plugins: the shared-data lookup and the plugin
conformance suite (:class:`ConformanceSuite`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA_ENV = "SSLCORE_TEST_DATA"


def shared_data_dir() -> Path:
    """The real-data folder used by tests: ``$SSLCORE_TEST_DATA`` or the ``shared/data``
    folder beside the repository (``<repo>/../shared/data``), found from this file or
    the working directory."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    for start in [Path(__file__).resolve(), Path.cwd().resolve()]:
        for parent in start.parents:
            candidate = parent / "shared" / "data"
            if candidate.is_dir():
                return candidate
    return Path("../shared/data")


def require_shared_data(*relative: str) -> Path:
    """Return the data folder, or fail the test loudly naming the missing files."""
    root = shared_data_dir()
    missing = [r for r in relative if not (root / r).exists()]
    if not root.is_dir() or missing:
        pytest.fail(
            f"test data not found: {root} lacks {missing or 'everything'}; "
            f"set {DATA_ENV} to the shared data folder",
            pytrace=False,
        )
    return root


def __getattr__(name: str):
    if name == "ConformanceSuite":  # imported lazily: it pulls in the build machinery
        from sslcore.testing.conformance import ConformanceSuite

        return ConformanceSuite
    raise AttributeError(name)
