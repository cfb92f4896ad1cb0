"""Load plugins from entry points one at a time, isolate failures, resolve names.

- Each entry point of the group ``sslcore.plugins`` is imported and its hooks called on
  their own; an import error, an invalid spec or a duplicate name fails that plugin
  only, recorded as a :class:`PluginFailure` with its distribution and version.
- ``SSLCORE_DISABLE_PLUGINS=name,...`` skips plugins; ``strict=True`` (or
  ``SSLCORE_STRICT_PLUGINS=1``) re-raises the first failure instead.
- Names resolve as ``name`` or ``plugin:name``; a short name registered by two plugins
  is ambiguous and the error names both qualified forms. An encoder spec with a
  ``name_option`` also resolves ``name:value`` / ``plugin:name:value`` (``timm:resnet18``).
- Only installed distributions are trusted: entry points are read from the
  distributions on ``sys.path`` less the entries Python adds for the working directory
  (:func:`implicit_path_entries`); a plugin found only there is not imported and is
  recorded as a failure saying how to install it (:func:`discover_entry_points`).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any, Literal

import pluggy

from sslcore.errors import AmbiguousNameError, PluginError, UnknownNameError
from sslcore.plugins import hookspecs
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec

Kind = Literal["task", "encoder", "dataset"]

#: the working-directory entry that ``python -m sslcore`` removed from the front of
#: ``sys.path`` (the first entry is then not an implicit one); still looked at, only to
#: report the plugins that were not loaded from it
removed_working_directory: str | None = None
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
    _specs: dict[str, dict[str, Any]] = field(default_factory=lambda: {kind: {} for kind in _HOOKS})
    _pm: pluggy.PluginManager = field(default_factory=lambda: _new_manager())

    # -- loading ---------------------------------------------------------------------
    def load_entry_points(self, strict: bool = False, disabled: Iterable[str] = ()) -> Registry:
        """Load every plugin of the entry-point group from the trusted distributions
        (:func:`discover_entry_points`); one found only in the working directory is
        recorded in :attr:`failures` (never imported, never raised, also in strict mode)
        and warned about."""
        disabled = set(disabled)
        found, untrusted = discover_entry_points(hookspecs.ENTRY_POINT_GROUP)
        for ep in sorted(found, key=lambda e: e.name):
            dist, version = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
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
        for ep, folder in untrusted:  # after the trusted ones: a stray copy never blocks their names
            if ep.name in disabled:
                continue
            dist, version = (ep.dist.name, ep.dist.version) if ep.dist else ("?", "?")
            reason = (
                f"not loaded: {dist} {version} was found only in the working directory {folder}, which "
                "Python puts on sys.path by itself; sslcore loads plugins from installed distributions "
                f"only. Install it (pip install {dist}, or pip install -e <its project folder>) or name "
                "the folder on PYTHONPATH to load it."
            )
            skipped = PluginFailure(ep.name, dist, version, reason)
            if skipped not in self.failures:  # loading again records nothing new
                self.failures.append(skipped)
                warnings.warn(f"sslcore plugin {ep.name!r} {reason}", UserWarning, stacklevel=3)
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
        names = (tuple(s.name for s in collected[k]) for k in ("task", "encoder", "dataset"))
        info = self.plugins[name] = PluginInfo(name, distribution, version, *names)
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
    @property
    def hook(self) -> Any:
        """The loaded plugins' hooks: ``registry.hook.sslcore_raw_features(bundle=...)``."""
        return self._pm.hook

    def specs(self, kind: Kind, domain: str | None = None) -> dict[str, Any]:
        """Qualified name -> spec for one kind, optionally of one domain."""
        return {q: s for q, s in self._specs[kind].items() if domain is None or s.domain == domain}

    def get(self, kind: Kind, name: str) -> Any:
        """Resolve ``name`` or ``plugin:name`` (an encoder also ``name:value``, see
        :meth:`resolve_encoder`); raises UnknownNameError / AmbiguousNameError."""
        if kind == "encoder":
            return self.resolve_encoder(name)[0]
        return self._lookup(kind, name)

    def resolve_encoder(self, name: str) -> tuple[EncoderSpec, dict[str, str]]:
        """The spec an encoder name stands for and the options the name carries.

        ``name`` / ``plugin:name`` carry none. For a spec with a ``name_option``,
        ``name:value`` and ``plugin:name:value`` carry ``{name_option: value}``
        (``timm:resnet18`` -> the ``timm`` spec and ``{"model": "resnet18"}``). A registered
        name always wins; any other name raises UnknownNameError (AmbiguousNameError for a
        short name two plugins register)."""
        try:
            return self._lookup("encoder", name), {}
        except UnknownNameError as unknown:
            found = self._encoder_with_value(name)
            if found is None:
                raise unknown from None
            return found

    def _encoder_with_value(self, name: str) -> tuple[EncoderSpec, dict[str, str]] | None:
        table = self._specs["encoder"]
        parts = name.split(":")
        if len(parts) >= 3 and f"{parts[0]}:{parts[1]}" in table:  # plugin:name:value
            spec, value = table[f"{parts[0]}:{parts[1]}"], ":".join(parts[2:])
        elif len(parts) >= 2 and any(s.name == parts[0] for s in table.values()):  # name:value
            spec, value = self._lookup("encoder", parts[0]), ":".join(parts[1:])
        else:
            return None
        if spec.name_option is None or not value:
            return None
        return spec, {spec.name_option: value}

    def _lookup(self, kind: Kind, name: str) -> Any:
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
        """``plugin:name`` of what ``name`` resolves to (an encoder name that carries a
        value keeps it: ``timm:resnet18`` -> ``vision:timm:resnet18``)."""
        spec = self.get(kind, name)
        qualified = next(q for q, s in self._specs[kind].items() if s is spec)
        if kind == "encoder":
            carried = self.resolve_encoder(name)[1]
            if carried:
                return f"{qualified}:{carried[spec.name_option]}"
        return qualified

    def task(self, name: str) -> TaskSpec:
        return self.get("task", name)

    def encoder(self, name: str) -> EncoderSpec:
        return self.get("encoder", name)

    def dataset(self, name: str) -> DatasetSpec:
        return self.get("dataset", name)


def implicit_path_entries(path: Sequence[str] | None = None) -> list[int]:
    """Indices of the entries of ``path`` (default ``sys.path``) that stand for the working
    directory only because Python put it there: every ``''`` (``python -c``, the REPL,
    standard input) and, as the first entry, the working directory itself (``python -m``,
    or a script run from it) unless ``-P`` / ``PYTHONSAFEPATH`` is set, ``python -m
    sslcore`` removed it already, or a later entry (``PYTHONPATH``, a ``.pth`` file) names
    the same folder explicitly."""
    path = list(sys.path if path is None else path)
    indices = [i for i, entry in enumerate(path) if entry in ("", os.curdir)]
    removed = removed_working_directory is not None
    if path and path[0] not in ("", os.curdir) and not sys.flags.safe_path and not removed:
        try:
            cwd = os.path.realpath(os.getcwd())
            first = os.path.realpath(path[0])
            named_again = any(os.path.realpath(entry or os.curdir) == first for entry in path[1:])
        except (OSError, TypeError, ValueError):  # a deleted working directory, a non-str entry
            return indices
        if first == cwd and not named_again:
            indices.insert(0, 0)
    return indices


def _normalized(name: str | None) -> str:
    return re.sub(r"[-_.]+", "-", name or "").lower()


def discover_entry_points(
    group: str, path: Sequence[str] | None = None
) -> tuple[list[metadata.EntryPoint], list[tuple[metadata.EntryPoint, str]]]:
    """Entry points of ``group``, as ``(trusted, untrusted)``.

    ``trusted``: those of the distributions found on ``path`` (default ``sys.path``)
    less :func:`implicit_path_entries`, the first distribution of each name winning (as
    ``importlib.metadata.entry_points`` does). ``untrusted``: ``(entry point, folder)``
    for those of distributions found only in an implicit working-directory entry; a
    distribution also installed elsewhere (a project folder with its ``*.egg-info``, run
    from inside) is not reported: its installed copy is loaded. With the default ``path``,
    the folder ``python -m sslcore`` removed from ``sys.path`` is reported the same way."""
    extra = [removed_working_directory] if path is None and removed_working_directory is not None else []
    path = list(sys.path if path is None else path)
    implicit = set(implicit_path_entries(path))
    seen: set[str] = set()

    def new_entry_points(entries: list[str]) -> Iterator[metadata.EntryPoint]:
        for dist in metadata.distributions(path=entries):
            name = _normalized(dist.metadata["Name"])
            if name not in seen:
                seen.add(name)
                yield from dist.entry_points.select(group=group)

    trusted = list(new_entry_points([e for i, e in enumerate(path) if i not in implicit]))
    untrusted = [
        (ep, os.path.abspath(entry or os.curdir))
        for entry in [path[i] for i in sorted(implicit)] + extra
        for ep in new_entry_points([entry])
    ]
    return trusted, untrusted


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
