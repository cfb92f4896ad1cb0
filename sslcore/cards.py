"""A task's card, what ``sslcore tasks NAME`` prints: name, summary, taxonomy (from the task
class), default encoder and what the task needs of an encoder (the task class's optional
``encoder_requirements`` string, e.g. "a ViT needs tiles of at least one patch"), options
(default, accepted values, meaning from the factory's docstrings, see
:func:`option_meaning`) and the recipe with its reference."""

from __future__ import annotations

import inspect
import re
import shutil
import textwrap
from collections.abc import Mapping
from typing import Any

from sslcore.build import task_option_specs
from sslcore.options import EMPTY, Option, describe
from sslcore.paradigms import PretextTask
from sslcore.plugins.manager import Registry
from sslcore.plugins.specs import TaskSpec, resolve_factory
from sslcore.recipes import Recipe


def task_card(registry: Registry, name: str, width: int | None = None) -> str:
    """The card of task ``name`` (``name`` or ``plugin:name``) as text ``width`` wide
    (default: the terminal's, at most 100)."""
    width = width or min(shutil.get_terminal_size((100, 20)).columns, 100)
    spec: TaskSpec = registry.task(name)
    qualified = registry.qualified_name("task", name)
    factory = resolve_factory(spec.factory)
    docs = _docstrings(factory)
    lines = [f"{spec.name}  ({qualified})", *_wrap(spec.summary, width, "  ")]
    what = docs[0].strip().splitlines()[0] if docs and docs[0].strip() else ""
    where = spec.factory if isinstance(spec.factory, str) else _qualname(factory)
    lines += ["", f"  factory    {where}", *_wrap(what, width, "             ")]
    lines += ["", "taxonomy (from the task class)"]
    lines += [f"  {key:<10} {value or '-'}" for key, value in spec.taxonomy().items()]
    lines += ["", f"default encoder  {spec.default_encoder or '- (give one with --encoder)'}"]
    requirement = getattr(factory, "encoder_requirements", "")
    if isinstance(requirement, str) and requirement:
        lines += _wrap(requirement, width, " " * 17, "encoder needs    ")
    lines += ["", *_options(task_option_specs(factory), docs, spec.recipe, width)]
    lines += ["", *_recipe(spec.recipe, spec.default_encoder, width)]
    return "\n".join(lines)


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _docstrings(factory: Any) -> list[str]:
    """The docstrings that may describe the options: the class's, ``__init__``'s and
    ``from_data``'s, and those of its bases outside the core (a function factory: its own)."""
    docs = [inspect.getdoc(factory) or ""]
    if not isinstance(factory, type):
        return docs
    for cls in factory.__mro__:  # the task's own bases too (a shared views base), not the core's
        if not issubclass(cls, PretextTask) or cls.__module__.startswith("sslcore."):
            continue
        for part in (cls, cls.__dict__.get("__init__"), cls.__dict__.get("from_data")):
            doc = inspect.cleandoc(part.__doc__) if getattr(part, "__doc__", None) else ""
            if doc and doc not in docs:
                docs.append(doc)
    return docs


def option_meaning(name: str, docs: list[str]) -> str:
    """The sentence a docstring gives option ``name`` (````name``: ...`` or ````name``
    (...): ...``), without its markup; empty when none does."""
    pattern = re.compile(rf"``{re.escape(name)}``(?:\s*\([^)]*\))?\s*:\s*(.+?)(?:\.\s|;\s|\.$|$)")
    for doc in docs:
        found = pattern.search(" ".join(doc.split()))
        if found:
            return re.sub(r":\w+:`~?([^`]*)`", r"\1", found.group(1)).replace("``", "").strip()
    return ""


def _options(specs: Mapping[str, Option], docs: list[str], recipe: Recipe | None, width: int) -> list[str]:
    if not specs:
        return ["options  (none)"]
    recipe_options = recipe.task_options if recipe is not None else {}
    rows = []
    for option in specs.values():
        default = "required" if option.default is EMPTY else repr(option.default)
        value = repr(recipe_options[option.name]) if option.name in recipe_options else ""
        rows.append([option.name, default, describe(option.hint), value, option_meaning(option.name, docs)])
    header = ["option", "default", "accepts", "recipe", "meaning"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    indent = 2 + sum(w + 2 for w in widths)
    out = ["options (--task-opt KEY=VALUE; `recipe`: the value the recipe sets)"]
    for row in [header, *rows]:
        head = "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  "
        meaning = _wrap(row[4], max(width - indent, 20), "") or [""]
        out.append((head + meaning[0]).rstrip())
        out += [" " * indent + more for more in meaning[1:]]
    return out


def _recipe(recipe: Recipe | None, default_encoder: str | None, width: int) -> list[str]:
    if recipe is None:
        return ["recipe  (none: give a budget and the optimiser yourself)"]
    out = ["recipe (what `sslcore pretrain` uses for everything you leave unset)"]

    def row(key: str, text: str) -> None:
        out.extend(_wrap(text, width, " " * 19, f"  {key:<16} "))

    row("budget", recipe.describe_budget())
    others = {k: v for k, v in recipe.train.items() if k not in recipe.budget}
    row("train", _assignments(others) or "-")
    encoder = recipe.encoder or default_encoder
    row("encoder", f"{encoder}{'' if recipe.encoder else ' (the default)'}")
    if recipe.encoder_options:
        row("encoder options", f"{_assignments(recipe.encoder_options)} (with {encoder})")
    if recipe.task_options:
        row("task options", _assignments(recipe.task_options))
    row("dataset", f"{recipe.dataset or '-'} (tuned and measured on)")
    if recipe.dataset_options:
        row("dataset options", f"{_assignments(recipe.dataset_options)} (on {recipe.dataset} only)")
    row("reference", recipe.reference or "-")
    return out


def _assignments(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v!r}" for k, v in values.items())


def _wrap(text: str, width: int, indent: str, first: str | None = None) -> list[str]:
    if not text:
        return []
    return textwrap.wrap(
        text,
        width,
        initial_indent=indent if first is None else first,
        subsequent_indent=indent,
        break_on_hyphens=False,
    )
