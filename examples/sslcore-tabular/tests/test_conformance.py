"""The example plugin passes sslcore's conformance suite (the suite a third-party plugin
runs over its own registry)."""

from __future__ import annotations

import sys
from pathlib import Path

from sslcore.testing import ConformanceSuite

# The example is not pip-installed in sslcore's CI: import it from its folder. An installed
# plugin needs neither this line nor plugin_module.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class TestTabularPlugin(ConformanceSuite):
    plugin = "tabular"
    plugin_module = "sslcore_tabular.plugin"
    datasets = {"scarf": "breast-cancer", "mlp": "wine"}
