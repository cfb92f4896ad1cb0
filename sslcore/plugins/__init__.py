"""Plugin system: hook specifications, spec records and the registry."""

from sslcore.plugins.hookspecs import ENTRY_POINT_GROUP, hookimpl, hookspec
from sslcore.plugins.manager import PluginFailure, PluginInfo, Registry, get_registry
from sslcore.plugins.specs import DatasetSpec, EncoderSpec, TaskSpec, resolve_factory

__all__ = [
    "ENTRY_POINT_GROUP",
    "DatasetSpec",
    "EncoderSpec",
    "PluginFailure",
    "PluginInfo",
    "Registry",
    "TaskSpec",
    "get_registry",
    "hookimpl",
    "hookspec",
    "resolve_factory",
]
