from __future__ import annotations

import subprocess
import sys

import pytest

from sslcore import get_registry
from sslcore.plugins.specs import resolve_factory

TASKS = sorted(get_registry().plugins["graph"].tasks)
#: the graph-level tasks default to ``gin``, the node-level ones to ``gcn``
GIN_TASKS = {"gcc", "graphcl", "infograph"}


def test_plugin_registers_its_components() -> None:
    registry = get_registry()
    # subsets: several parts of the plugin register components (see the anchors in plugin.py)
    assert {"dgi", "grace", "bgrl", "mvgrl"} <= set(registry.plugins["graph"].tasks)
    assert {"gcn", "gin", "gat", "sage"} <= set(registry.plugins["graph"].encoders)
    assert {"cora", "citeseer", "pubmed", "sbm", "karate"} <= set(registry.plugins["graph"].datasets)
    assert not registry.dataset("sbm").needs_root and registry.dataset("cora").needs_root


@pytest.mark.parametrize("name", TASKS)
def test_the_spec_reads_its_taxonomy_from_the_class(name: str) -> None:
    spec = get_registry().task(name)
    facts = resolve_factory(spec.factory).taxonomy()
    assert all(v is None for v in spec.declared_taxonomy().values())  # the class is the only source
    resolved = {**spec.taxonomy(), "paradigm": spec.paradigm.value, "family": spec.family or "-"}
    assert resolved == facts  # (the class writes no family as "-")
    assert spec.default_encoder == ("gin" if name in GIN_TASKS else "gcn")


def test_loading_the_plugin_imports_no_heavy_library() -> None:
    code = (
        "import sys, sslcore_graph.plugin; "
        "print([m for m in ('torch_geometric', 'torchvision', 'transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
