"""pytest plugin registered by sslcore (entry point ``pytest11``): fixtures for plugin
authors and for sslcore's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sslcore.testing import require_shared_data, shared_data_dir


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data folder (``$SSLCORE_TEST_DATA`` or ``../shared/data``); fails loudly if absent."""
    require_shared_data()
    return shared_data_dir()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise a :class:`~sslcore.testing.conformance.ConformanceSuite` subclass's
    ``task_name`` / ``encoder_name`` / ``dataset_name`` over its plugin's registry."""
    from sslcore.testing.conformance import ConformanceSuite

    cls = metafunc.cls
    if cls is None or not issubclass(cls, ConformanceSuite) or not cls.plugin:
        return
    for kind in ("task", "encoder", "dataset"):
        if f"{kind}_name" in metafunc.fixturenames:
            names = cls.names(kind)
            metafunc.parametrize(f"{kind}_name", names, ids=[n.split(":", 1)[-1] for n in names])
