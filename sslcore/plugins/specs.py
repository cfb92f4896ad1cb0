"""Frozen spec records that plugins return from their registration hooks."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sslcore.paradigms import FAMILIES, NEGATIVES, Paradigm

_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")

Factory = Callable[..., Any] | str


def resolve_factory(factory: Factory) -> Callable[..., Any]:
    """Import ``"package.module:attr"`` lazily; callables are returned unchanged."""
    if callable(factory):
        return factory
    module, _, attr = factory.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _check_common(kind: str, name: str, domain: str, factory: Factory, summary: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} is invalid: use lower-case letters, digits, '_', '-', '.'")
    if not isinstance(domain, str) or not _NAME.match(domain):
        raise ValueError(f"{kind} {name!r}: domain {domain!r} is invalid")
    if not (callable(factory) or (isinstance(factory, str) and ":" in factory)):
        raise ValueError(f"{kind} {name!r}: factory must be a callable or 'module:attr', got {factory!r}")
    if not isinstance(summary, str):
        raise ValueError(f"{kind} {name!r}: summary must be a string")


@dataclass(frozen=True)
class TaskSpec:
    """A pretext task: ``factory(encoder, info, **options)`` or a ``PretextTask`` class
    (then ``cls.from_data(encoder, info, **options)`` is called)."""

    name: str
    domain: str
    paradigm: Paradigm
    factory: Factory
    summary: str = ""
    signal: str = ""
    family: str | None = None
    negatives: str = "none"
    default_encoder: str | None = None

    def __post_init__(self) -> None:
        _check_common("task", self.name, self.domain, self.factory, self.summary)
        try:
            object.__setattr__(self, "paradigm", Paradigm(self.paradigm))
        except ValueError:
            raise ValueError(
                f"task {self.name!r}: paradigm {self.paradigm!r} is not one of {[p.value for p in Paradigm]}"
            ) from None
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"task {self.name!r}: family {self.family!r} not in {FAMILIES}")
        if self.negatives not in NEGATIVES:
            raise ValueError(f"task {self.name!r}: negatives {self.negatives!r} not in {NEGATIVES}")
        if self.paradigm is Paradigm.CONTRASTIVE and self.family is None:
            raise ValueError(f"task {self.name!r}: a contrastive task must declare its family")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder: ``factory(info, **options) -> nn.Module`` with ``output_dim``."""

    name: str
    domain: str
    factory: Factory
    summary: str = ""

    def __post_init__(self) -> None:
        _check_common("encoder", self.name, self.domain, self.factory, self.summary)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: ``factory(root, **options) -> DatasetBundle``.

    ``sample`` is what one example is ("image", "sentence", "node", "graph", "row", ...);
    ``needs_root`` is False for data that ships with a dependency.
    """

    name: str
    domain: str
    factory: Factory
    sample: str
    summary: str = ""
    needs_root: bool = True

    def __post_init__(self) -> None:
        _check_common("dataset", self.name, self.domain, self.factory, self.summary)
