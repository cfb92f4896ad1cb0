"""Recipes: the configuration a task was published and benchmarked with.

Each registered task declares one on its spec (``TaskSpec(..., recipe=Recipe(...))``).
:func:`sslcore.runs.pretrain` (so the CLI and comparison grids too) fills every field the
user leaves unset from the task's recipe, field by field (:func:`apply_recipe`): the
user's values always win, and the budget (``epochs`` / ``steps`` / ``seconds``) counts as
one unit, so a user budget replaces the recipe's whole budget. ``config.json`` records
the recipe as declared and what was taken from it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sslcore.engine.config import BUDGET_KEYS, FIELDS, TrainConfig, budget_steps
from sslcore.errors import ConfigError, suggest

#: a user budget under this fraction of the recipe's (in steps) is warned about
SHORT_BUDGET_FRACTION = 0.1
USE_RECIPE_HINT = (
    "Leave out epochs, steps and seconds (--epochs/--steps/--seconds) to train for the recipe's budget"
)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-:]*$")


class ShortBudgetWarning(UserWarning):
    """A run's budget is far below its task's recipe's (:func:`short_budget_warning`);
    filter it with ``warnings.simplefilter("ignore", ShortBudgetWarning)``."""


def method_fields() -> list[str]:
    """The TrainConfig fields a recipe may set: those whose metadata says ``recipe``
    (not the run's environment: seed, device, threads, workers, logging)."""
    return [name for name, f in FIELDS.items() if f.metadata.get("recipe")]


@dataclass(frozen=True)
class Recipe:
    """The configuration a task was published / benchmarked with.

    ``train``: :class:`~sslcore.engine.TrainConfig` fields of the method (budget
    ``epochs`` / ``steps`` / ``seconds``, ``optimizer``, ``lr``, ``weight_decay``,
    ``batch_size``, ``warmup``, ``min_lr_ratio``, ``grad_clip``, ...; not the run's
    environment: seed, device, threads, workers, logging). ``encoder``: a registered
    encoder name, ``None`` for the spec's ``default_encoder``; ``encoder_options`` apply
    when the run uses that encoder. ``task_options``: options of the task factory.
    ``dataset``: the dataset the recipe was tuned or benchmarked on (informational);
    ``dataset_options`` apply only when a run uses that dataset (e.g. the held-out link
    split of the graph auto-encoders on Cora). ``reference``: the paper and where the
    numbers are measured (a section of ``docs/benchmarks.md``).

    Unknown or run-environment ``train`` keys and invalid values raise
    :class:`~sslcore.errors.ConfigError` when the recipe is created (at registration).
    The option dicts are copied; treat them as read-only.
    """

    train: Mapping[str, Any] = field(default_factory=dict)
    encoder: str | None = None
    encoder_options: Mapping[str, Any] = field(default_factory=dict)
    task_options: Mapping[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    reference: str = ""

    def __post_init__(self) -> None:
        for name in ("train", "encoder_options", "task_options", "dataset_options"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise ConfigError(f"recipe {name} must be a mapping of option names to values, got {value!r}")
            object.__setattr__(self, name, dict(value))
        for name in ("encoder", "dataset"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) and _NAME.match(value)):
                raise ConfigError(f"recipe {name} must be a registered {name} name or None, got {value!r}")
        if not isinstance(self.reference, str):
            raise ConfigError(f"recipe reference must be a string, got {self.reference!r}")
        if self.dataset_options and self.dataset is None:
            raise ConfigError(
                "recipe dataset_options apply to the dataset the recipe was tuned on: name it (dataset=...)"
            )
        allowed = method_fields()
        for key in self.train:
            if key in FIELDS and key not in allowed:
                raise ConfigError(
                    f"recipe train option {key!r} belongs to the run (its environment or its user), "
                    f"not the method; a recipe may set: {', '.join(allowed)}"
                )
            if key not in allowed:
                raise ConfigError(
                    f"unknown recipe train option {key!r}{suggest(key, allowed)} Valid: {', '.join(allowed)}."
                )
        placeholder = {} if self.budget else {"steps": 1}  # a recipe may leave the budget to the user
        try:
            TrainConfig.from_dict({**self.train, **placeholder})
        except ConfigError as exc:
            raise ConfigError(f"recipe train options are invalid: {exc}") from None

    @property
    def budget(self) -> dict[str, Any]:
        """The recipe's budget fields (``{"epochs": 200}``); empty if it sets none."""
        return {k: self.train[k] for k in BUDGET_KEYS if self.train.get(k) is not None}

    def to_dict(self) -> dict[str, Any]:
        """The recipe as JSON-ready data (what ``config.json`` records as declared)."""
        return dataclasses.asdict(self)

    def describe_budget(self) -> str:
        """``"200 epochs"``, ``"900 seconds"``, ``"1000 steps or 60 seconds"``."""
        return " or ".join(f"{v:g} {k}" for k, v in self.budget.items()) or "none"


@dataclass(frozen=True)
class AppliedRecipe:
    """A run's arguments after :func:`apply_recipe`, and what came from the recipe."""

    train: dict[str, Any]
    encoder: Any
    task_options: dict[str, Any]
    encoder_options: dict[str, Any]
    dataset_options: dict[str, Any]
    #: the fields taken from the recipe: ``{"train": {...}, "encoder": name,
    #: "task_options": {...}, "encoder_options": {...}, "dataset_options": {...}}``
    applied: dict[str, Any]
    recipe: Recipe | None = None

    def record(self) -> dict[str, Any] | None:
        """What ``config.json`` keeps under ``"recipe"`` (None for a task without one)."""
        if self.recipe is None:
            return None
        return {
            "declared": self.recipe.to_dict(),
            "applied": self.applied,
            "reference": self.recipe.reference,
        }


def apply_recipe(
    recipe: Recipe | None,
    train: Mapping[str, Any],
    encoder: Any = None,
    task_options: Mapping[str, Any] | None = None,
    encoder_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    dataset: str | None = None,
    default_encoder: str | None = None,
    registry: Any = None,
) -> AppliedRecipe:
    """Fill what the user left unset from ``recipe``; user values always win.

    ``train``: a user budget field (``epochs`` / ``steps`` / ``seconds`` not None)
    replaces the recipe's whole budget; every other train field is the user's if given,
    else the recipe's. ``encoder``: ``None`` -> the recipe's encoder (else ``None``, the
    spec's ``default_encoder``). Options merge key by key; ``encoder_options`` only when
    the run's encoder is the recipe's (by name: ``recipe.encoder or default_encoder``,
    compared by what the names resolve to in ``registry``, see :func:`same_encoder`),
    ``dataset_options`` only when ``dataset`` (a short name) is the recipe's dataset.
    """
    train, task_options = dict(train), dict(task_options or {})
    encoder_options, dataset_options = dict(encoder_options or {}), dict(dataset_options or {})
    options = ("task_options", "encoder_options", "dataset_options")
    applied: dict[str, Any] = {"train": {}, "encoder": None, **{k: {} for k in options}}
    if recipe is None:
        return AppliedRecipe(train, encoder, task_options, encoder_options, dataset_options, applied)
    user_budget = any(train.get(k) is not None for k in BUDGET_KEYS)
    for key, value in recipe.train.items():
        if not (user_budget if key in BUDGET_KEYS else key in train):
            train[key] = applied["train"][key] = value
    if not user_budget:  # a None budget field of the user's is "not given"
        for key in BUDGET_KEYS:
            if train.get(key) is None:
                train.pop(key, None)
    if encoder is None and recipe.encoder is not None:
        encoder = applied["encoder"] = recipe.encoder
    same = isinstance(encoder, str) and same_encoder(encoder, recipe.encoder or default_encoder, registry)
    if same or (encoder is None and recipe.encoder is None):  # None: the spec's default, the recipe's
        _merge(encoder_options, recipe.encoder_options, applied["encoder_options"])
    _merge(task_options, recipe.task_options, applied["task_options"])
    if dataset is not None and _short(dataset) == _short(recipe.dataset):
        _merge(dataset_options, recipe.dataset_options, applied["dataset_options"])
    return AppliedRecipe(train, encoder, task_options, encoder_options, dataset_options, applied, recipe)


def same_encoder(a: str, b: str | None, registry: Any = None) -> bool:
    """Whether encoder names ``a`` and ``b`` stand for the same encoder: ``small_cnn`` and
    ``vision:small_cnn`` do, ``resnet18`` and ``timm:resnet18`` (a spec with a
    ``name_option``) do not. Names with a ``:`` are resolved in ``registry`` (default: the
    installed plugins'); names it does not know compare by their last part."""
    if b is None:
        return False
    if a == b:
        return True
    if ":" in a or ":" in b:
        if registry is None:
            from sslcore.plugins.manager import get_registry

            registry = get_registry()
        try:
            return registry.qualified_name("encoder", a) == registry.qualified_name("encoder", b)
        except LookupError:  # unknown or ambiguous: the names alone decide
            pass
    return _short(a) == _short(b)


def _short(name: str | None) -> str | None:
    """``"plugin:name"`` -> ``"name"``."""
    return None if name is None else name.rpartition(":")[2]


def _merge(options: dict[str, Any], recipe: Mapping[str, Any], applied: dict[str, Any]) -> None:
    for key, value in recipe.items():
        if key not in options:
            options[key] = applied[key] = value


def short_budget_warning(config: TrainConfig, recipe: Recipe | None, steps_per_epoch: int) -> str | None:
    """A warning when ``config``'s budget is obviously too short next to ``recipe``'s:
    fewer steps than :data:`SHORT_BUDGET_FRACTION` of the recipe's steps, or than the
    recipe's warm-up steps (or, both budgets in seconds, under that fraction of its
    seconds); None when the budget is fine, or cannot be compared."""
    if recipe is None or not recipe.budget:
        return None
    theirs = recipe.budget
    if {k: getattr(config, k) for k in BUDGET_KEYS if getattr(config, k) is not None} == theirs:
        return None  # the recipe's own budget
    mine, reference = budget_steps(config.to_dict(), steps_per_epoch), budget_steps(theirs, steps_per_epoch)
    name = f"the recipe's budget is {recipe.describe_budget()}"
    if mine is not None and reference is not None:
        warmup = float(recipe.train.get("warmup", FIELDS["warmup"].default)) * reference
        floor = max(SHORT_BUDGET_FRACTION * reference, warmup)
        if mine < floor:
            return (
                f"the training budget ({mine} step{'s' * (mine != 1)}) is far too short for this task: "
                f"{name} = {reference} steps here ({steps_per_epoch} per epoch), and under "
                f"{max(1, math.ceil(floor))} steps the results are far from the recipe's reference. "
                f"{USE_RECIPE_HINT}"
            )
        return None
    if config.seconds and theirs.get("seconds") and mine is None and reference is None:
        if config.seconds < SHORT_BUDGET_FRACTION * theirs["seconds"]:
            return (
                f"the training budget ({config.seconds:g} s) is far too short for this task: {name}. "
                f"{USE_RECIPE_HINT}"
            )
    return None
