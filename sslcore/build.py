"""Build datasets, encoders and tasks from registered names and option dicts.

Options are checked against the factory's signature before anything is built: an
unknown key is rejected with the closest valid key suggested, and a value against the
option's type hint and declared range (:mod:`sslcore.options`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from sslcore.data import DatasetBundle
from sslcore.errors import ConfigError, suggest
from sslcore.options import EMPTY, FLAGS, Option, check_values, option_specs
from sslcore.paradigms import PretextTask
from sslcore.plugins.manager import Registry, get_registry
from sslcore.plugins.specs import EncoderSpec, resolve_factory


def _takes_any(fn: Callable[..., Any], reserved: int) -> bool:
    """Whether ``fn`` takes ``**kwargs`` after its first ``reserved`` parameters."""
    return any(p.kind is p.VAR_KEYWORD for p in list(inspect.signature(fn).parameters.values())[reserved:])


def check_options(what: str, valid: list[str] | None, options: Mapping[str, Any]) -> None:
    """Raise ConfigError naming the closest valid key for any key not in ``valid``."""
    if valid is None:
        return
    for key in options:
        if key not in valid:
            raise ConfigError(
                f"{what} has no option {key!r}{suggest(key, valid)} "
                f"Valid options: {', '.join(valid) or '(none)'}."
            )


def _declared(kind: str, factory: Callable[..., Any]) -> tuple[dict[str, Option], bool]:
    """The declared options of a ``kind`` factory (after the parameters sslcore fills), and
    whether it accepts any option (``**kwargs``); see :func:`task_option_names`."""
    if kind == "task" and isinstance(factory, type) and issubclass(factory, PretextTask):
        init = option_specs(factory.__init__, reserved=2)
        if factory.from_data.__func__ is PretextTask.from_data.__func__:  # type: ignore[attr-defined]
            return init, _takes_any(factory.__init__, 2)
        own = option_specs(factory.from_data, reserved=2)
        if not _takes_any(factory.from_data, 2):
            return own, False
        inherited = {n: o for n, o in init.items() if n not in own and o.default is not EMPTY}
        return own | inherited, _takes_any(factory.__init__, 2)
    reserved = 2 if kind == "task" else 1
    return option_specs(factory, reserved), _takes_any(factory, reserved)


def task_option_names(factory: Callable[..., Any]) -> list[str] | None:
    """Options of a task factory; ``None`` if it accepts any. For a ``PretextTask`` class:
    ``__init__``'s after ``(self, encoder)``, or, when ``from_data`` is overridden, its own
    options after ``(encoder, info)`` plus, if it passes ``**options`` on, ``__init__``'s
    that have a default (the required ones, such as a view distribution, are what
    ``from_data`` builds from ``info`` and passes itself)."""
    specs, accepts_any = _declared("task", factory)
    return None if accepts_any else list(specs)


def task_option_specs(factory: Callable[..., Any]) -> dict[str, Option]:
    """The options of :func:`task_option_names`, each with the type hint and default of
    the signature that declares it (``from_data``'s before ``__init__``'s)."""
    return _declared("task", factory)[0]


def component_option_specs(kind: str, factory: Callable[..., Any]) -> dict[str, Option]:
    """The declared options of a ``kind`` ("task", "encoder" or "dataset") ``factory``."""
    return _declared(kind, factory)[0]


def check_component_options(
    kind: str, name: str, factory: Callable[..., Any], options: Mapping[str, Any]
) -> None:
    """Check the option names, then values, that ``options`` gives the ``kind`` ("task",
    "encoder" or "dataset") ``name`` built by ``factory``; ConfigError on the first
    unknown name, or naming every bad value."""
    what = f"{kind} {name!r}"
    specs, accepts_any = _declared(kind, factory)
    check_options(what, None if accepts_any else list(specs), options)
    check_values(what, specs, options, FLAGS[kind])


def option_problems(
    task: str,
    dataset: str,
    encoder: str | nn.Module | None = None,
    task_options: Mapping[str, Any] | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> list[str]:
    """The option problems of a run, one line per component, found without building or
    loading anything: what :func:`check_run_options` raises, and what ``sslcore compare``
    reports for every run of a grid before the first starts."""
    registry = registry or get_registry()
    spec, data = registry.task(task), registry.dataset(dataset)
    checks = [("task", spec, task_options), ("dataset", data, dataset_options)]
    if encoder is None:  # as sslcore.runs.pretrain resolves it: the recipe's encoder, else the default
        encoder = (spec.recipe.encoder if spec.recipe is not None else None) or spec.default_encoder
    problems = []
    if isinstance(encoder, str):  # a user module takes no options (build_task says so)
        try:
            enc_spec, encoder_options = encoder_options_of(encoder, encoder_options, registry)
            checks.append(("encoder", enc_spec, encoder_options))
        except ConfigError as exc:
            problems.append(str(exc))
    for kind, component, options in checks:
        try:
            name = encoder if kind == "encoder" else component.name
            check_component_options(kind, name, resolve_factory(component.factory), options or {})
        except ConfigError as exc:
            problems.append(str(exc))
    return problems


def check_run_options(
    task: str,
    dataset: str,
    encoder: str | nn.Module | None = None,
    task_options: Mapping[str, Any] | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> None:
    """Raise ConfigError with every :func:`option_problems` of a run (before a run folder
    is written or data loads)."""
    problems = option_problems(
        task, dataset, encoder, task_options, encoder_options, dataset_options, registry
    )
    if problems:
        raise ConfigError("\n".join(problems))


def build_dataset(
    name: str,
    root: str | Path | None = None,
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> DatasetBundle:
    registry = registry or get_registry()
    spec = registry.dataset(name)
    options = dict(options or {})
    factory = resolve_factory(spec.factory)
    check_component_options("dataset", spec.name, factory, options)
    bundle = factory(Path(root) if root is not None else None, **options)
    if not isinstance(bundle, DatasetBundle):
        raise TypeError(f"dataset {spec.name!r} factory returned {type(bundle).__name__}, not DatasetBundle")
    return bundle


def encoder_options_of(
    name: str, options: Mapping[str, Any] | None = None, registry: Registry | None = None
) -> tuple[EncoderSpec, dict[str, Any]]:
    """The spec encoder ``name`` resolves to and the options it is built with: those the
    name carries (``timm:resnet18`` -> ``model="resnet18"``, see
    :meth:`~sslcore.plugins.Registry.resolve_encoder`) and ``options``. ConfigError when
    ``options`` give a carried option another value, or leave out a required
    ``name_option`` (then the error says how to name one)."""
    registry = registry or get_registry()
    spec, carried = registry.resolve_encoder(name)
    options = dict(options or {})
    for key, value in carried.items():
        if key in options and options[key] != value:
            raise ConfigError(
                f"encoder {name!r} names {key}={value!r} but its options give {key}={options[key]!r}; "
                f"give the {key} once"
            )
    options = {**carried, **options}
    option = spec.name_option
    if option is not None and option not in options:
        declared = component_option_specs("encoder", resolve_factory(spec.factory)).get(option)
        if declared is not None and declared.default is EMPTY:
            raise ConfigError(
                f"encoder {name!r} needs its {option}: name the encoder {name}:<{option}> "
                f"(e.g. --encoder {spec.name}:<{option}>) or set the option {option}=..."
            )
    return spec, options


def build_encoder(
    name: str,
    info: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> nn.Module:
    """Build encoder ``name`` (``name``, ``plugin:name``, or ``name:value`` for a spec with
    a ``name_option``) from the dataset facts ``info`` with ``options``."""
    registry = registry or get_registry()
    spec, options = encoder_options_of(name, options, registry)
    factory = resolve_factory(spec.factory)
    check_component_options("encoder", name, factory, options)
    encoder = factory(info, **options)
    if not isinstance(getattr(encoder, "output_dim", None), int):
        raise TypeError(f"encoder {name!r} has no integer output_dim")
    return encoder


def task_info(bundle: DatasetBundle) -> dict[str, Any]:
    """The facts a task is built from: ``bundle.info`` plus ``num_pretrain_samples``
    (``len(bundle.pretrain)``, left out if the pretraining set has no length)."""
    info = dict(bundle.info)
    try:
        info["num_pretrain_samples"] = len(bundle.pretrain)  # type: ignore[arg-type]
    except TypeError:
        pass
    return info


def build_task(
    name: str,
    bundle: DatasetBundle,
    encoder: str | nn.Module | None = None,
    task_options: Mapping[str, Any] | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> PretextTask:
    """Build task ``name`` for ``bundle`` with a registered encoder (by name, default the
    task's ``default_encoder``) or a user ``nn.Module`` that has ``output_dim``.

    The task's ``from_data`` sees ``bundle.info`` plus ``num_pretrain_samples``
    (``len(bundle.pretrain)``); a registered encoder is built from the task class's
    ``encoder_info(info)`` (the same facts unless the task changes them)."""
    registry = registry or get_registry()
    spec = registry.task(name)
    if spec.domain != bundle.domain:
        raise ConfigError(
            f"task {spec.name!r} is for the {spec.domain!r} domain but dataset {bundle.name!r} "
            f"is {bundle.domain!r}; pick a {spec.domain} dataset "
            f"({', '.join(sorted(s.name for s in registry.specs('dataset', spec.domain).values())) or 'none installed'})"
        )
    task_options = dict(task_options or {})
    factory = resolve_factory(spec.factory)
    check_component_options("task", spec.name, factory, task_options)
    if encoder is None:
        encoder = spec.default_encoder
        if encoder is None:
            raise ConfigError(f"task {spec.name!r} has no default encoder; pass one with --encoder")
    info = task_info(bundle)
    is_task_class = isinstance(factory, type) and issubclass(factory, PretextTask)
    if isinstance(encoder, str):
        enc_spec = registry.encoder(encoder)
        if enc_spec.domain != spec.domain:
            raise ConfigError(
                f"encoder {encoder!r} is for {enc_spec.domain!r}, task {spec.name!r} for {spec.domain!r}"
            )
        enc_info = factory.encoder_info(info) if is_task_class else info
        encoder = build_encoder(encoder, enc_info, encoder_options, registry)
    elif encoder_options:
        raise ConfigError("encoder options apply only to a registered encoder name")
    elif not isinstance(getattr(encoder, "output_dim", None), int):
        raise ConfigError(
            f"the encoder {type(encoder).__name__} has no integer output_dim; wrap it as "
            f"sslcore.WrappedEncoder(module, output_dim=...)"
        )
    task = (factory.from_data if is_task_class else factory)(encoder, info, **task_options)
    if not isinstance(task, PretextTask):
        raise TypeError(f"task {spec.name!r} factory returned {type(task).__name__}, not a PretextTask")
    if task.paradigm is not spec.paradigm or task.domain != spec.domain:
        raise TypeError(
            f"task {spec.name!r}: the spec says {spec.paradigm}/{spec.domain} but the class "
            f"{type(task).__name__} declares {task.paradigm}/{task.domain}"
        )
    declared = {k: v for k, v in spec.declared_taxonomy().items() if v is not None and k != "paradigm"}
    if not is_task_class:  # a function factory's spec is its taxonomy's source
        declared = {}
    differ = [
        f"{k} {v!r} vs {getattr(task, k, None)!r}" for k, v in declared.items() if getattr(task, k, None) != v
    ]
    if differ:
        raise TypeError(
            f"task {spec.name!r}: the spec's taxonomy differs from the class {type(task).__name__}'s "
            f"({'; '.join(differ)}); leave these out of the TaskSpec: the class is their source"
        )
    return task
