"""Plugin loading through real entry points, failure isolation and name resolution.

Each test writes ``<dist>-<version>.dist-info/{METADATA,entry_points.txt}`` plus plugin
modules into a temporary folder put on ``sys.path``, so ``importlib.metadata`` finds them
exactly as it finds pip-installed plugins. Installed plugins (the domain plugins, if
present) are disabled so the tests only see their own.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import sslcore.plugins.manager as manager
from sslcore import Paradigm, TaskSpec, hookimpl
from sslcore.errors import AmbiguousNameError, PluginError, UnknownNameError
from sslcore.plugins import ENTRY_POINT_GROUP, EncoderSpec, PluginInfo, Registry, get_registry
from tests.fake_dist import write_dist

HEADER = "from sslcore import DatasetSpec, EncoderSpec, Paradigm, TaskSpec, hookimpl\n\n"


def plugin_source(tasks: str = "[]", encoders: str = "[]", datasets: str = "[]") -> str:
    """A plugin module whose three hooks return the given Python expressions."""
    return HEADER + textwrap.dedent(
        f"""
        def build(*args, **kwargs):
            return None

        @hookimpl
        def sslcore_register_tasks():
            return {tasks}

        @hookimpl
        def sslcore_register_encoders():
            return {encoders}

        @hookimpl
        def sslcore_register_datasets():
            return {datasets}
        """
    )


def task(name: str, paradigm: str = "Paradigm.GENERATIVE") -> str:
    return f"TaskSpec({name!r}, domain='toy', paradigm={paradigm}, factory=build)"


GOOD = plugin_source(
    tasks=f"[{task('ae')}]",
    encoders="[EncoderSpec('mlp', domain='toy', factory=build)]",
    datasets="[DatasetSpec('blobs', domain='toy', factory=build, sample='row', needs_root=False)]",
)


class Site:
    """A folder on ``sys.path`` holding fake distributions."""

    def __init__(self, root: Path):
        self.root = root
        self.names: set[str] = set()

    def add(self, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
        write_dist(self.root, dist, version, entry_points, modules)
        self.names |= set(entry_points)
        importlib.invalidate_caches()

    def foreign(self) -> set[str]:
        """Entry-point names of plugins installed outside this folder."""
        return {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)} - self.names

    def load(self, **kwargs) -> Registry:
        disabled = set(kwargs.pop("disabled", ())) | self.foreign()
        return Registry().load_entry_points(disabled=disabled, **kwargs)


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    importlib.invalidate_caches()
    before = set(sys.modules)
    yield Site(root)
    for name in set(sys.modules) - before:
        if str(root) in str(getattr(sys.modules[name], "__file__", "")):
            del sys.modules[name]
    importlib.invalidate_caches()


def failure(reg: Registry, name: str):
    found = [f for f in reg.failures if f.name == name]
    assert len(found) == 1, f"expected one failure for {name!r}, got {reg.failures}"
    return found[0]


# -- loading and isolation ---------------------------------------------------------
def test_entry_point_plugin_loads_with_its_distribution_and_specs(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    reg = site.load()
    assert reg.failures == []
    assert reg.plugins["fakeplug"] == PluginInfo("fakeplug", "fakeplug", "1.2", ("ae",), ("mlp",), ("blobs",))
    assert reg.task("ae").paradigm is Paradigm.GENERATIVE
    assert reg.encoder("mlp").name == "mlp" and reg.dataset("blobs").needs_root is False
    assert set(reg.specs("task")) == {"fakeplug:ae"}
    assert reg.qualified_name("dataset", "blobs") == "fakeplug:blobs"
    assert reg.specs("task", domain="vision") == {}


def test_plugin_raising_on_import_is_recorded_and_others_still_load(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    site.add(
        "brokenplug",
        "0.3",
        {"broken": "brokenplug_mod"},
        {"brokenplug_mod": "raise RuntimeError('needs libfoo')\n"},
    )
    site.add("typoplug", "2.0", {"typo": "typoplug_mod"}, {"typoplug_mod": "def oops(:\n"})
    site.add("ghostplug", "0.1", {"ghost": "ghostplug_mod_that_does_not_exist"}, {})
    reg = site.load()
    assert set(reg.plugins) == {"fakeplug"} and reg.task("ae").name == "ae"
    broken = failure(reg, "broken")
    assert (broken.distribution, broken.version) == ("brokenplug", "0.3")
    assert broken.error == "RuntimeError: needs libfoo"
    assert "brokenplug_mod" in broken.traceback
    assert str(broken) == "plugin 'broken' (brokenplug 0.3) failed: RuntimeError: needs libfoo"
    typo = failure(reg, "typo")
    assert (typo.distribution, typo.version) == ("typoplug", "2.0") and typo.error.startswith("SyntaxError")
    ghost = failure(reg, "ghost")
    assert (
        ghost.error.startswith("ModuleNotFoundError") and "ghostplug_mod_that_does_not_exist" in ghost.error
    )


BAD_PLUGINS = {
    "badname": (plugin_source(tasks=f"[{task('SimCLR')}]"), r"ValueError: task name 'SimCLR' is invalid"),
    "badparadigm": (
        plugin_source(tasks=f"[{task('x1', repr('adversarial'))}]"),
        r"ValueError: task 'x1': paradigm 'adversarial' is not one of",
    ),
    "dup": (
        plugin_source(
            tasks=f"[{task('ae')}, {task('ae')}]",
            encoders="[EncoderSpec('enc', domain='toy', factory=build)]",
        ),
        r"PluginError: task name 'ae' is registered twice by this plugin",
    ),
    "notalist": (
        plugin_source(encoders="EncoderSpec('enc', domain='toy', factory=build)"),
        r"PluginError: sslcore_register_encoders must return a list of EncoderSpec, got EncoderSpec",
    ),
    "wrongtype": (
        plugin_source(tasks="[EncoderSpec('enc', domain='toy', factory=build)]"),
        r"PluginError: sslcore_register_tasks returned EncoderSpec\(.*\), not a TaskSpec",
    ),
    "badhook": (
        HEADER + "@hookimpl\ndef sslcore_register_tasks(extra):\n    return []\n",
        r"PluginValidationError: (?s:.*)extra",
    ),
}


def test_each_invalid_plugin_fails_alone(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    for name, (source, _) in BAD_PLUGINS.items():
        site.add(f"{name}-dist", "0.1", {name: f"{name}_mod"}, {f"{name}_mod": source})
    reg = site.load()
    assert set(reg.plugins) == {"fakeplug"}
    for name, (_, message) in BAD_PLUGINS.items():
        fail = failure(reg, name)
        assert fail.distribution == f"{name}-dist" and fail.version == "0.1"
        assert re.search(message, fail.error), (name, fail.error)
    # nothing of a failed plugin is registered, not even its valid specs
    assert set(reg.specs("task")) == {"fakeplug:ae"}
    assert reg.specs("encoder") == {"fakeplug:mlp": reg.encoder("mlp")}
    assert reg.task("ae") is reg.specs("task")["fakeplug:ae"]  # 'dup:ae' did not make 'ae' ambiguous


def test_failed_plugin_is_unregistered_and_can_be_registered_again(site: Site) -> None:
    site.add("dup-dist", "0.1", {"dup": "dup_mod"}, {"dup_mod": BAD_PLUGINS["dup"][0]})
    reg = site.load()
    assert "dup" not in reg.plugins

    class Fixed:
        @hookimpl
        def sslcore_register_tasks(self):
            return [TaskSpec("ae", domain="toy", paradigm=Paradigm.GENERATIVE, factory=print)]

    info = reg.register(Fixed(), "dup")
    assert info is not None and info.tasks == ("ae",) and info.distribution == "<in-process>"
    assert reg.qualified_name("task", "ae") == "dup:ae"


def test_disabled_plugins_are_skipped(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    site.add(
        "brokenplug", "0.3", {"broken": "brokenplug_mod"}, {"brokenplug_mod": "raise RuntimeError('x')\n"}
    )
    reg = site.load(disabled=["broken"])
    assert reg.failures == [] and set(reg.plugins) == {"fakeplug"}
    reg = site.load(disabled=["broken", "fakeplug"])
    assert reg.failures == [] and reg.plugins == {} and reg.specs("task") == {}
    assert "brokenplug_mod" not in sys.modules  # a disabled plugin is not even imported


def test_strict_reraises_the_failure_as_plugin_error(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    site.add(
        "brokenplug",
        "0.3",
        {"broken": "brokenplug_mod"},
        {"brokenplug_mod": "raise RuntimeError('needs libfoo')\n"},
    )
    with pytest.raises(
        PluginError, match=r"plugin 'broken' \(brokenplug 0.3\) failed: RuntimeError: needs libfoo"
    ) as exc:
        site.load(strict=True)
    assert isinstance(exc.value.__cause__, RuntimeError)
    site.add("dup-dist", "0.1", {"dup": "dup_mod"}, {"dup_mod": BAD_PLUGINS["dup"][0]})
    with pytest.raises(PluginError, match="registered twice"):
        site.load(strict=True, disabled=["broken"])


# -- name resolution ----------------------------------------------------------------
def two_plugins_with_x(site: Site) -> Registry:
    site.add(
        "dist-a", "1.0", {"a": "plug_a"}, {"plug_a": plugin_source(tasks=f"[{task('x')}, {task('only-a')}]")}
    )
    site.add(
        "dist-b",
        "2.0",
        {"b": "plug_b"},
        {"plug_b": plugin_source(tasks=f"[{task('x', 'Paradigm.ADVERSARIAL')}]")},
    )
    return site.load()


def test_same_short_name_in_two_plugins_is_ambiguous(site: Site) -> None:
    reg = two_plugins_with_x(site)
    with pytest.raises(AmbiguousNameError) as exc:
        reg.task("x")
    assert "a:x" in str(exc.value) and "b:x" in str(exc.value)
    assert reg.task("a:x").paradigm is Paradigm.GENERATIVE
    assert reg.task("b:x").paradigm is Paradigm.ADVERSARIAL
    assert reg.qualified_name("task", "b:x") == "b:x"
    assert reg.task("only-a") is reg.task("a:only-a")


def test_unknown_names_suggest_the_closest_and_list_choices(site: Site) -> None:
    reg = two_plugins_with_x(site)
    with pytest.raises(UnknownNameError) as exc:
        reg.task("only_a")
    assert "did you mean 'only-a'?" in str(exc.value)
    assert "Valid choices: only-a, x." in str(exc.value)
    with pytest.raises(UnknownNameError, match=r"unknown task 'a:onlya'; did you mean 'a:only-a'\?"):
        reg.task("a:onlya")
    with pytest.raises(
        UnknownNameError, match="No encoder is registered: is the plugin that provides it installed"
    ):
        reg.encoder("resnet18")
    with pytest.raises(KeyError):  # usable where a KeyError is expected
        reg.dataset("cora")


def test_encoder_names_carry_the_value_of_a_name_option() -> None:
    """An encoder spec with ``name_option`` resolves ``name:value`` and ``plugin:name:value``
    to itself with ``{name_option: value}``; a registered name always wins."""

    class Plug:
        @hookimpl
        def sslcore_register_encoders(self):
            return [
                EncoderSpec("timm", domain="toy", factory=print, name_option="model"),
                EncoderSpec("lin", domain="toy", factory=print),
            ]

    class PluginNamedTimm:
        @hookimpl
        def sslcore_register_encoders(self):
            return [EncoderSpec("fixed", domain="toy", factory=print)]

    reg = Registry()
    reg.register(Plug(), "plug")
    reg.register(PluginNamedTimm(), "timm")
    timm = reg.encoder("timm")
    assert reg.resolve_encoder("timm") == (timm, {})
    assert reg.resolve_encoder("timm:resnet18") == (timm, {"model": "resnet18"})
    assert reg.resolve_encoder("plug:timm:vit_tiny.aug") == (timm, {"model": "vit_tiny.aug"})
    assert reg.resolve_encoder("timm:a:b") == (timm, {"model": "a:b"})
    assert reg.encoder("timm:resnet18") is timm
    assert reg.encoder("timm:fixed") is reg.encoder("fixed")  # a registered qualified name wins
    assert reg.qualified_name("encoder", "timm:resnet18") == "plug:timm:resnet18"
    assert reg.qualified_name("encoder", "plug:timm") == "plug:timm"
    for name in ("lin:resnet18", "plug:lin:resnet18", "nope:resnet18", "timm:", "plug:nope:x"):
        with pytest.raises(UnknownNameError, match=f"unknown encoder {name!r}"):
            reg.encoder(name)
    with pytest.raises(ValueError, match="name_option must be None or an option name"):
        EncoderSpec("bad", domain="toy", factory=print, name_option="not an option")


def test_a_name_option_of_an_ambiguous_short_name_is_ambiguous() -> None:
    def plug(name: str):
        class Plug:
            @hookimpl
            def sslcore_register_encoders(self):
                return [EncoderSpec("timm", domain="toy", factory=print, name_option="model")]

        return Plug()

    reg = Registry()
    reg.register(plug("a"), "a")
    reg.register(plug("b"), "b")
    with pytest.raises(AmbiguousNameError, match="a:timm or b:timm"):
        reg.encoder("timm:resnet18")
    assert reg.resolve_encoder("b:timm:resnet18") == (reg.encoder("b:timm"), {"model": "resnet18"})


# -- in-process registration ---------------------------------------------------------
def test_register_in_process_object_and_duplicate_plugin_name() -> None:
    class Plug:
        @hookimpl
        def sslcore_register_encoders(self):
            return [EncoderSpec("lin", domain="toy", factory=print)]

    reg = Registry()
    info = reg.register(Plug(), "plug")
    assert info == PluginInfo("plug", "<in-process>", "", (), ("lin",), ())
    assert reg.encoder("plug:lin").factory is print
    with pytest.raises(PluginError, match="a plugin named 'plug' is already registered"):
        reg.register(Plug(), "plug")

    class Bad:
        @hookimpl
        def sslcore_register_tasks(self):
            return [TaskSpec("BAD", domain="toy", paradigm="generative", factory=print)]

    with pytest.raises(
        PluginError, match=r"plugin 'bad' \(<in-process> \) failed: ValueError: task name 'BAD'"
    ):
        reg.register(Bad(), "bad")  # strict by default in-process
    assert reg.register(Bad(), "bad", strict=False) is None
    assert failure(reg, "bad").error.startswith("ValueError")


# -- the process-wide registry and its environment variables -------------------------
@pytest.fixture()
def fresh_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manager, "_DEFAULT", None)  # restored after the test
    monkeypatch.delenv("SSLCORE_STRICT_PLUGINS", raising=False)


def test_env_disable_plugins(site: Site, fresh_default, monkeypatch: pytest.MonkeyPatch) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    site.add(
        "brokenplug", "0.3", {"broken": "brokenplug_mod"}, {"brokenplug_mod": "raise RuntimeError('x')\n"}
    )
    foreign = ",".join(sorted(site.foreign()))
    monkeypatch.setenv("SSLCORE_DISABLE_PLUGINS", f"{foreign}, broken ,")
    reg = get_registry(reload=True)
    assert set(reg.plugins) == {"fakeplug"} and reg.failures == []
    assert get_registry() is reg  # cached until reload
    monkeypatch.setenv("SSLCORE_DISABLE_PLUGINS", foreign)
    assert get_registry() is reg
    reloaded = get_registry(reload=True)
    assert reloaded is not reg and [f.name for f in reloaded.failures] == ["broken"]


@pytest.mark.parametrize(
    ("value", "strict"), [("1", True), ("true", True), ("0", False), ("false", False), ("", False)]
)
def test_env_strict_plugins(
    site: Site, fresh_default, monkeypatch: pytest.MonkeyPatch, value: str, strict: bool
) -> None:
    site.add(
        "brokenplug", "0.3", {"broken": "brokenplug_mod"}, {"brokenplug_mod": "raise RuntimeError('x')\n"}
    )
    monkeypatch.setenv("SSLCORE_DISABLE_PLUGINS", ",".join(site.foreign()))
    monkeypatch.setenv("SSLCORE_STRICT_PLUGINS", value)
    if strict:
        with pytest.raises(PluginError, match=r"plugin 'broken' \(brokenplug 0.3\) failed"):
            get_registry(reload=True)
        # an explicit argument wins over the environment
        assert [f.name for f in get_registry(reload=True, strict=False).failures] == ["broken"]
    else:
        assert [f.name for f in get_registry(reload=True).failures] == ["broken"]


def test_entry_point_name_taken_by_another_distribution_is_reported(site: Site) -> None:
    site.add("fakeplug", "1.2", {"fakeplug": "fakeplug_mod"}, {"fakeplug_mod": GOOD})
    site.add("copycat", "0.1", {"fakeplug": "copycat_mod"}, {"copycat_mod": GOOD})
    reg = site.load()
    reg.load_entry_points(disabled=site.foreign())  # loading again records nothing new
    assert len(reg.plugins) == 1 and len(reg.failures) == 1
    loser = reg.failures[0]
    winner = reg.plugins["fakeplug"].distribution
    assert {winner, loser.distribution} == {"fakeplug", "copycat"}
    assert f"already taken by {winner}" in loser.error
