"""Frozen spec records that plugins return from their registration hooks."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sslcore.errors import PluginError
from sslcore.paradigms import FAMILIES, NEGATIVES, Paradigm, PretextTask
from sslcore.recipes import Recipe

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


#: the taxonomy facts a TaskSpec reads from its task class unless it declares them
TAXONOMY = ("paradigm", "signal", "family", "negatives")
#: the facts besides the paradigm where the class (or a function factory's spec) leaves them out
_UNDECLARED = {"signal": "", "family": None, "negatives": "none"}


class _TaxonomyField:
    """A :class:`TaskSpec` taxonomy field: the value the spec declares, else the task
    class's attribute, read on first access (the factory is imported then, never at
    registration) and cached on the spec."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, spec: TaskSpec | None, owner: type | None = None) -> Any:
        if spec is None:  # the dataclass default: not declared
            return None
        declared = spec.__dict__.get(f"_declared_{self.name}")
        return declared if declared is not None else spec.class_taxonomy()[self.name]

    def __set__(self, spec: TaskSpec, value: Any) -> None:  # only the dataclass __init__ sets it
        spec.__dict__[f"_declared_{self.name}"] = value


@dataclass(frozen=True)
class TaskSpec:
    """A pretext task: ``factory(encoder, info, **options)`` or a ``PretextTask`` class
    (then ``cls.from_data(encoder, info, **options)`` is called).

    Taxonomy: for a ``PretextTask`` class the class is the source (``paradigm`` from its
    base, ``signal``, ``family``, ``negatives``): the spec leaves them out and reads them
    from the class on first access. A function factory must declare ``paradigm`` (and
    ``family`` when contrastive). ``domain`` stays on the spec: it is the registry's key
    for listing and filtering without importing anything, and ``build_task`` checks that
    the class says the same. ``recipe``: the configuration the task was published and
    benchmarked with (:class:`sslcore.recipes.Recipe`), applied by ``sslcore.runs.pretrain``
    to whatever the user leaves unset.
    """

    name: str
    domain: str
    paradigm: Paradigm | None = _TaxonomyField()  # type: ignore[assignment]
    factory: Factory = None  # type: ignore[assignment]  # required; a default only to keep the order
    summary: str = ""
    signal: str | None = _TaxonomyField()  # type: ignore[assignment]
    family: str | None = _TaxonomyField()  # type: ignore[assignment]
    negatives: str | None = _TaxonomyField()  # type: ignore[assignment]
    default_encoder: str | None = None
    recipe: Recipe | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        _check_common("task", self.name, self.domain, self.factory, self.summary)
        declared = self.declared_taxonomy()
        if declared["paradigm"] is not None:
            try:
                self.__dict__["_declared_paradigm"] = Paradigm(declared["paradigm"])
            except ValueError:
                raise ValueError(
                    f"task {self.name!r}: paradigm {declared['paradigm']!r} is not one of "
                    f"{[p.value for p in Paradigm]}"
                ) from None
        _check_taxonomy(self.name, self.declared_taxonomy())
        if callable(self.factory) and not _is_task_class(self.factory):
            _check_function_taxonomy(self.name, self.factory, self.declared_taxonomy())
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise ValueError(
                f"task {self.name!r}: recipe must be a sslcore.recipes.Recipe, got {self.recipe!r}"
            )

    def __repr__(self) -> str:  # the declared facts only: no import of the factory
        declared = ", ".join(f"{k}={v!r}" for k, v in self.declared_taxonomy().items() if v is not None)
        return (
            f"TaskSpec(name={self.name!r}, domain={self.domain!r}, factory={self.factory!r}"
            + (f", {declared}" if declared else "")
            + f", default_encoder={self.default_encoder!r}, recipe={'yes' if self.recipe else None})"
        )

    def declared_taxonomy(self) -> dict[str, Any]:
        """The taxonomy facts the spec itself declares (None: read from the class)."""
        return {k: self.__dict__.get(f"_declared_{k}") for k in TAXONOMY}

    def class_taxonomy(self) -> dict[str, Any]:
        """The taxonomy of the task class (a function factory: the spec's declared facts
        with the old defaults), cached after the first call, which imports the factory."""
        cached = self.__dict__.get("_class_taxonomy")
        if cached is None:
            cached = self.__dict__["_class_taxonomy"] = self._read_taxonomy()
        return cached

    def taxonomy(self) -> dict[str, Any]:
        """``{"paradigm", "domain", "signal", "family", "negatives"}`` as the spec resolves them."""
        return {k: getattr(self, k) for k in ("paradigm", "domain", *TAXONOMY[1:])}

    def _read_taxonomy(self) -> dict[str, Any]:
        try:
            factory = resolve_factory(self.factory)
        except Exception as exc:  # noqa: BLE001 - an import error of the plugin, named
            raise PluginError(
                f"task {self.name!r}: cannot read its taxonomy from its factory {self.factory!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not _is_task_class(factory):
            declared = self.declared_taxonomy()
            _check_function_taxonomy(self.name, factory, declared, PluginError)
            return {"paradigm": declared["paradigm"], **_UNDECLARED}
        paradigm = getattr(factory, "paradigm", None)
        if not isinstance(paradigm, Paradigm):
            raise PluginError(
                f"task {self.name!r}: its class {factory.__name__} declares no paradigm: derive it from "
                "GenerativeTask, ContrastiveTask or AdversarialTask"
            )
        facts = {"paradigm": paradigm, **{k: getattr(factory, k, v) for k, v in _UNDECLARED.items()}}
        where = f" (class {factory.__name__})"
        try:
            _check_taxonomy(self.name, facts, where)
        except ValueError as exc:
            raise PluginError(str(exc)) from None
        if paradigm is Paradigm.CONTRASTIVE and facts["family"] is None:
            raise PluginError(f"task {self.name!r}{where}: a contrastive task must declare its family")
        return facts


def _is_task_class(factory: Any) -> bool:
    return isinstance(factory, type) and issubclass(factory, PretextTask)


def _check_taxonomy(name: str, facts: dict[str, Any], where: str = "") -> None:
    family, negatives = facts["family"], facts["negatives"]
    if family is not None and family not in FAMILIES:
        raise ValueError(f"task {name!r}{where}: family {family!r} not in {FAMILIES}")
    if negatives is not None and negatives not in NEGATIVES:
        raise ValueError(f"task {name!r}{where}: negatives {negatives!r} not in {NEGATIVES}")
    if facts["signal"] is not None and not isinstance(facts["signal"], str):
        raise ValueError(f"task {name!r}{where}: signal must be a string, got {facts['signal']!r}")


def _check_function_taxonomy(
    name: str, factory: Any, declared: dict[str, Any], error: type[Exception] = ValueError
) -> None:
    """A factory that is not a PretextTask class cannot be asked for its taxonomy: the
    spec must declare the paradigm (and the family of a contrastive task)."""
    what = getattr(factory, "__qualname__", repr(factory))
    if declared["paradigm"] is None:
        raise error(
            f"task {name!r}: its factory {what} is not a PretextTask class, so the TaskSpec must "
            "declare its taxonomy: paradigm= (and family= for a contrastive task; signal=, "
            "negatives= optional)"
        )
    if declared["paradigm"] is Paradigm.CONTRASTIVE and declared["family"] is None:
        raise error(f"task {name!r}: a contrastive task must declare its family")


_OPTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder: ``factory(info, **options) -> nn.Module`` with ``output_dim``.

    ``name_option``: an option of the factory whose value may follow the name, so one
    spec stands for a family of encoders: with ``name_option="model"`` the encoder name
    ``"timm:resnet18"`` (or ``"vision:timm:resnet18"``) builds this spec with
    ``model="resnet18"`` (:meth:`sslcore.plugins.Registry.resolve_encoder`).
    """

    name: str
    domain: str
    factory: Factory
    summary: str = ""
    name_option: str | None = None

    def __post_init__(self) -> None:
        _check_common("encoder", self.name, self.domain, self.factory, self.summary)
        if self.name_option is not None and not (
            isinstance(self.name_option, str) and _OPTION.match(self.name_option)
        ):
            raise ValueError(
                f"encoder {self.name!r}: name_option must be None or an option name (an identifier), "
                f"got {self.name_option!r}"
            )


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
