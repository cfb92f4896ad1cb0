from __future__ import annotations

import subprocess
import sys

from sslcore import get_registry


def test_plugin_registers_its_components() -> None:
    registry = get_registry()
    # subsets: several parts of the plugin register components (see the anchors in plugin.py)
    assert {"dgi", "grace", "bgrl", "mvgrl"} <= set(registry.plugins["graph"].tasks)
    assert {"gcn", "gin", "gat", "sage"} <= set(registry.plugins["graph"].encoders)
    assert {"cora", "citeseer", "pubmed", "sbm", "karate"} <= set(registry.plugins["graph"].datasets)
    assert registry.task("dgi").default_encoder == "gcn"
    assert not registry.dataset("sbm").needs_root and registry.dataset("cora").needs_root


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    code = (
        "import sys, sslcore_graph.plugin; "
        "print([m for m in ('torch_geometric', 'torchvision', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
