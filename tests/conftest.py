"""Fixtures shared by the core's test modules."""

from __future__ import annotations

import pytest

import sslcore.plugins.manager as manager
from sslcore.plugins.manager import Registry
from tests.fake_dist import TABULAR


@pytest.fixture()
def tabular_registry(monkeypatch: pytest.MonkeyPatch) -> Registry:
    """The example tabular plugin (examples/sslcore-tabular) registered in-process as the
    default registry: the CLI's commands find ``scarf`` and ``wine`` without pip."""
    monkeypatch.syspath_prepend(str(TABULAR))
    import sslcore_tabular.plugin

    reg = Registry()
    reg.register(sslcore_tabular.plugin, "tabular", distribution="sslcore-tabular", version="0.1.0")
    monkeypatch.setattr(manager, "_DEFAULT", reg)
    return reg
