import subprocess
import sys

from sslcore.plugins import get_registry, resolve_factory


def test_registers_task_encoder_and_datasets() -> None:
    registry = get_registry()
    info = registry.plugins["nlp"]
    assert (info.distribution, set(info.tasks), info.encoders, set(info.datasets)) == (
        "sslcore-nlp",
        {"mlm", "clm", "electra", "simcse", "sop", "nsp"},
        ("bert", "electra"),
        {"wikitext2", "pydocs", "text-files"},
    )
    assert registry.dataset("pydocs").needs_root is False and registry.dataset("wikitext2").needs_root
    for kind in ("task", "encoder", "dataset"):
        for spec in registry.specs(kind, "nlp").values():
            assert callable(resolve_factory(spec.factory))


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = (
        "import sys, sslcore_nlp.plugin; "
        "print(sorted(m for m in ('transformers', 'tokenizers', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
