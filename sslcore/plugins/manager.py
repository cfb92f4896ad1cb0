"""Load plugins from entry points one at a time, isolate failures, resolve names.

- Each entry point of the group ``sslcore.plugins`` is imported and its hooks called on
  their own; an import error, an invalid spec or a duplicate name fails that plugin
  only, recorded as a :class:`PluginFailure` with its distribution and version.
- ``SSLCORE_DISABLE_PLUGINS=name,...`` skips plugins; ``strict=True`` (or
  ``SSLCORE_STRICT_PLUGINS=1``) re-raises the first failure instead.
- Names resolve as ``name`` or ``plugin:name``; a short name registered by two plugins
  is ambiguous and the error names both qualified forms.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Literal

import pluggy

from sslcore.errors import AmbiguousNameError, PluginError, UnknownNameError
from sslcore.plugins import hookspecs
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec

Kind = Literal["task", "encoder", "dataset"]
_HOOKS: dict[str, tuple[str, type]] = {
    "task": ("sslcore_register_tasks", TaskSpec),
    "encoder": ("sslcore_register_encoders", EncoderSpec),
    "dataset": ("sslcore_register_datasets", DatasetSpec),
}


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin and what it registered."""

    name: str
    distribution: str
    version: str
    tasks: tuple[str, ...] = ()
    encoders: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that did not load, with the reason."""

    name: str
    distribution: str
    version: str
    error: str
    traceback: str = ""

    def __str__(self) -> str:
        return f"plugin {self.name!r} ({self.distribution} {self.version}) failed: {self.error}"


@dataclass
class Registry:
    """Every spec registered by the loaded plugins, by kind and qualified name."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)
    _specs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"task": {}, "encoder": {}, "dataset": {}}
    )
    _pm: pluggy.PluginManager = field(default_factory=lambda: _new_manager())

    # -- loading ---------------------------------------------------------------------
    def load_entry_points(self, strict: bool = False, disabled: Iterable[str] = ()) -> Registry:
        disabled = set(disabled)
        for ep in sorted(metadata.entry_points(group=hookspecs.ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if ep.name in disabled or any(f.name == ep.name for f in self.failures):
                continue
            if ep.name in self.plugins:
                owner = self.plugins[ep.name]
                if (owner.distribution, owner.version) != (dist, version):
                    clash = PluginError(f"plugin name {ep.name!r} is already taken by {owner.distribution}")
                    self._fail(ep.name, dist, version, clash, strict)
                continue
            try:
                module = ep.load()
            except Exception as exc:  # noqa: BLE001 - a broken plugin must not break others
                self._fail(ep.name, dist, version, exc, strict)
                continue
            self.register(module, ep.name, distribution=dist, version=version, strict=strict)
        return self

    def register(
        self,
        plugin: ModuleType | object,
        name: str,
        distribution: str = "<in-process>",
        version: str = "",
        strict: bool = True,
    ) -> PluginInfo | None:
        """Register a plugin object or module (the in-process form of an entry point)."""
        if name in self.plugins:
            raise PluginError(f"a plugin named {name!r} is already registered")
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # noqa: BLE001
            self._fail(name, distribution, version, exc, strict)
            return None
        try:
            collected = {kind: self._collect(name, kind) for kind in _HOOKS}
        except Exception as exc:  # noqa: BLE001
            self._pm.unregister(name=name)
            self._fail(name, distribution, version, exc, strict)
            return None
        for kind, specs in collected.items():
            for spec in specs:
                self._specs[kind][f"{name}:{spec.name}"] = spec
        info = PluginInfo(
            name,
            distribution,
            version,
            *(tuple(s.name for s in collected[k]) for k in ("task", "encoder", "dataset")),
        )
        self.plugins[name] = info
        return info

    def _collect(self, plugin: str, kind: str) -> list[Any]:
        hook_name, spec_type = _HOOKS[kind]
        impls = [i for i in getattr(self._pm.hook, hook_name).get_hookimpls() if i.plugin_name == plugin]
        specs: list[Any] = []
        for impl in impls:
            result = impl.function()
            if result is None:
                continue
            if not isinstance(result, (list, tuple)):
                raise PluginError(
                    f"{hook_name} must return a list of {spec_type.__name__}, got {type(result).__name__}"
                )
            specs.extend(result)
        seen: set[str] = set()
        for spec in specs:
            if not isinstance(spec, spec_type):
                raise PluginError(f"{hook_name} returned {spec!r}, not a {spec_type.__name__}")
            if spec.name in seen:
                raise PluginError(f"{kind} name {spec.name!r} is registered twice by this plugin")
            seen.add(spec.name)
        return specs

    def _fail(self, name: str, dist: str, version: str, exc: BaseException, strict: bool) -> None:
        failure = PluginFailure(name, dist, version, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        if strict:
            raise PluginError(str(failure)) from exc
        self.failures.append(failure)

    # -- lookup ----------------------------------------------------------------------
    def specs(self, kind: Kind, domain: str | None = None) -> dict[str, Any]:
        """Qualified name -> spec for one kind, optionally of one domain."""
        return {q: s for q, s in self._specs[kind].items() if domain is None or s.domain == domain}

    def get(self, kind: Kind, name: str) -> Any:
        """Resolve ``name`` or ``plugin:name``; raises UnknownNameError / AmbiguousNameError."""
        table = self._specs[kind]
        if ":" in name:
            if name in table:
                return table[name]
            raise UnknownNameError(kind, name, table)
        matches = [q for q, s in table.items() if s.name == name]
        if len(matches) == 1:
            return table[matches[0]]
        if matches:
            raise AmbiguousNameError(kind, name, matches)
        raise UnknownNameError(kind, name, {s.name for s in table.values()})

    def qualified_name(self, kind: Kind, name: str) -> str:
        spec = self.get(kind, name)
        return next(q for q, s in self._specs[kind].items() if s is spec)

    def task(self, name: str) -> TaskSpec:
        return self.get("task", name)

    def encoder(self, name: str) -> EncoderSpec:
        return self.get("encoder", name)

    def dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name)


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


_DEFAULT: Registry | None = None


def get_registry(reload: bool = False, strict: bool | None = None) -> Registry:
    """The process-wide registry of installed plugins, loaded on first use."""
    global _DEFAULT
    if _DEFAULT is None or reload:
        if strict is None:
            strict = os.environ.get("SSLCORE_STRICT_PLUGINS", "") not in ("", "0", "false")
        disabled = [n.strip() for n in os.environ.get("SSLCORE_DISABLE_PLUGINS", "").split(",") if n.strip()]
        _DEFAULT = Registry().load_entry_points(strict=strict, disabled=disabled)
    return _DEFAULT
