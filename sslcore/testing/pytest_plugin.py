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
