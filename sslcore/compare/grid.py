"""Comparison grids: a TOML (or YAML) file of run groups, expanded into single runs.

A grid file::

    [settings]                  # optional
    seeds = [0]                 # default seeds of every group
    protocol = "linear"         # default evaluation protocol
    data_root = "../shared/data"  # relative paths are relative to the grid file
    device = "cpu"              # TrainConfig's device of every run
    threads = 1                 # TrainConfig's threads of every run (None: torch's default)

    [[run]]                     # a group: the product of its lists is expanded
    task = ["simclr", "rotation"]   # a name or a list of names
    dataset = "digits"
    encoder = "small_cnn"       # optional (default: the task's default encoder)
    budget = [{seconds = 30}]   # optional: a table or a list of tables (seconds / steps /
                                # epochs); without it each task trains its recipe's budget
    seeds = [0, 1]              # optional: overrides settings.seeds
    train = {batch_size = 256, lr = 2e-3}     # optional TrainConfig fields (`sslcore pretrain --help`)
    task_options = {}           # optional, likewise encoder_options, dataset_options
    protocol = "linear"         # optional: overrides settings.protocol; a list evaluates
                                # each run with several, the first is the headline number:
                                # ["link", "linear"], or tables that also override dataset
                                # options: [{protocol = "linear", dataset_options = {probe = "mr"}}],
                                # or set the protocol's own options:
                                # [{protocol = "linear_adam", options = {weight_decay = 0.0}}]

Unknown keys and wrong types raise :class:`GridError` naming the file, the line and
the key (with the closest valid key). The budget keys and the settings ``device`` and
``threads`` are :class:`~sslcore.engine.TrainConfig` fields and are checked against it
here; the ``train`` table is checked by the runner before any run starts
(:func:`sslcore.compare.runner.check_grid`), with every other problem of the grid.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from sslcore.engine.config import BUDGET_KEYS, field_problem
from sslcore.errors import ConfigError, suggest

#: settings that are TrainConfig fields, applied to every run (a test checks they are fields)
TRAIN_SETTINGS = ("device", "threads")
SETTINGS_KEYS = ("seeds", "protocol", "data_root", *TRAIN_SETTINGS)
OPTION_TABLES = ("train", "task_options", "encoder_options", "dataset_options")
GROUP_KEYS = ("task", "dataset", "encoder", "budget", "seeds", *OPTION_TABLES, "protocol", "data_root")


class GridError(ConfigError):
    """A grid file that cannot be read: names the file, the line and the key."""


@dataclass(frozen=True)
class Evaluation:
    """A protocol a grid run is evaluated with; ``dataset_options`` override the run's
    (``{"probe": "mr"}``: a text run probed on another labelled set, same tokenizer);
    ``options`` are the protocol's own (``{"weight_decay": 0.0}`` for ``linear_adam``)."""

    protocol: str
    dataset_options: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``linear``, ``linear_probe-mr``, ``linear_adam_epochs-100``: the key of its
        numbers in a record (the dataset options, then the protocol options)."""
        parts = [*sorted(self.dataset_options.items()), *sorted(self.options.items())]
        return self.protocol + "".join(f"_{k}-{_label_value(v)}" for k, v in parts)


def _label_value(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


@dataclass(frozen=True)
class GridRun:
    """One run of a grid: everything :func:`sslcore.runs.pretrain` and the protocol need."""

    task: str
    dataset: str
    encoder: str | None
    seed: int
    budget: dict[str, float]
    train: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    encoder_options: dict[str, Any] = field(default_factory=dict)
    dataset_options: dict[str, Any] = field(default_factory=dict)
    evaluations: tuple[Evaluation, ...] = (Evaluation("linear"),)
    data_root: str | None = None

    @property
    def protocol(self) -> str:
        """The first evaluation's protocol: the run's headline number."""
        return self.evaluations[0].protocol

    @property
    def run_id(self) -> str:
        """Stable folder name: readable parts plus a hash of the whole configuration (a run
        with one plain protocol hashes as before evaluation lists existed)."""
        config = asdict(self)
        if self.evaluations == (Evaluation(self.protocol),):
            config["protocol"] = config.pop("evaluations")[0]["protocol"]
        for evaluation in config.get("evaluations", ()):
            if not evaluation["options"]:  # as runs hashed before protocol options existed
                del evaluation["options"]
        digest = hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:8]
        budget = "-".join(f"{k}{v:g}" for k, v in sorted(self.budget.items())) or "recipe"
        parts = [self.task, self.dataset, self.encoder or "default", budget, f"seed{self.seed}", digest]
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(parts))


@dataclass(frozen=True)
class Grid:
    runs: tuple[GridRun, ...]
    settings: dict[str, Any]
    source: str  # the file's text, recorded in reports
    path: str

    def with_data_root(self, root: str | Path) -> Grid:
        """The same grid reading its data from ``root`` (overrides the file's ``data_root``)."""
        root = str(Path(root).resolve())
        return replace(self, runs=tuple(replace(r, data_root=root) for r in self.runs))


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid file (``.toml``; ``.yaml``/``.yml`` with PyYAML installed)."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"grid file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    return parse_grid(text, str(path), yaml=path.suffix.lower() in (".yaml", ".yml"))


def parse_grid(text: str, path: str = "<grid>", yaml: bool = False) -> Grid:
    data = _parse(text, path, yaml)
    where = _Locator(text, path)
    _check_keys(data, ("settings", "run"), where, "top level")
    settings = data.get("settings", {})
    if not isinstance(settings, Mapping):
        raise where.error("settings", "must be a table")
    _check_keys(settings, SETTINGS_KEYS, where, "[settings]")
    _check_values(settings, TRAIN_SETTINGS, where)
    groups = data.get("run")
    if not groups:
        raise GridError(f"{path}: no runs; add at least one [[run]] table with a task and a dataset")
    if not isinstance(groups, list) or not all(isinstance(g, Mapping) for g in groups):
        raise where.error("run", "must be an array of tables ([[run]])")
    base = Path(path).parent
    runs = [run for i, group in enumerate(groups) for run in _expand(group, settings, where, i, base)]
    return Grid(tuple(runs), dict(settings), text, path)


def _parse(text: str, path: str, yaml: bool) -> dict[str, Any]:
    if yaml:
        try:
            import yaml as pyyaml
        except ImportError as exc:
            raise GridError(
                f"{path}: reading YAML grids needs PyYAML (pip install pyyaml); or use TOML"
            ) from exc
        try:
            data = pyyaml.safe_load(text)
        except pyyaml.YAMLError as exc:
            raise GridError(f"{path}: malformed YAML: {exc}") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise GridError(f"{path}: malformed TOML: {exc}") from exc
    if not isinstance(data, dict):
        raise GridError(f"{path}: a grid is a table with [settings] and [[run]] entries")
    return data


def _expand(group: Mapping[str, Any], settings: Mapping[str, Any], where: _Locator, index: int, base: Path):
    _check_keys(group, GROUP_KEYS, where, f"[[run]] #{index + 1}", index)
    for required in ("task", "dataset"):
        if required not in group:
            raise GridError(f"{where.path}: [[run]] #{index + 1} has no {required!r}")
    tasks = _names(group["task"], "task", where, index)
    datasets = _names(group["dataset"], "dataset", where, index)
    encoders = _names(group["encoder"], "encoder", where, index) if "encoder" in group else [None]
    budgets = group.get("budget", [{}])  # none: each task trains its recipe's budget
    budgets = budgets if isinstance(budgets, list) else [budgets]
    for budget in budgets or [None]:
        if not isinstance(budget, Mapping) or (not budget and "budget" in group):
            raise where.error("budget", "must be a table such as {seconds = 60}", index)
        _check_keys(budget, BUDGET_KEYS, where, f"budget of [[run]] #{index + 1}", index)
        _check_values(budget, BUDGET_KEYS, where, index)
    seeds = group.get("seeds", settings.get("seeds", [0]))
    if not isinstance(seeds, list) or not all(isinstance(s, int) for s in seeds) or not seeds:
        raise where.error("seeds", "must be a non-empty list of integers", index)
    options = {}
    for key in OPTION_TABLES:
        value = group.get(key, {})
        if not isinstance(value, Mapping):
            raise where.error(key, "must be a table", index)
        options[key] = dict(value)
    data_root = group.get("data_root", settings.get("data_root"))
    options["data_root"] = None if data_root is None else str((base / str(data_root)).resolve())
    protocol = group.get("protocol", settings.get("protocol", "linear"))
    options["evaluations"] = _evaluations(protocol, where, index)
    for task, dataset, encoder, budget, seed in itertools.product(tasks, datasets, encoders, budgets, seeds):
        yield GridRun(task, dataset, encoder, seed, dict(budget), **options)


def _evaluations(value: Any, where: _Locator, index: int) -> tuple[Evaluation, ...]:
    """``protocol``: a name, or a list of names and ``{protocol, dataset_options, options}`` tables."""
    found = []
    for item in value if isinstance(value, list) and value else [value]:
        if isinstance(item, Mapping):
            _check_keys(item, ("protocol", "dataset_options", "options"), where, "a protocol table", index)
            tables = [item.get(key, {}) for key in ("dataset_options", "options")]
            if isinstance(item.get("protocol"), str) and all(isinstance(t, Mapping) for t in tables):
                found.append(Evaluation(item["protocol"], *map(dict, tables)))
                continue
        elif isinstance(item, str) and item:
            found.append(Evaluation(item))
            continue
        raise where.error(
            "protocol",
            "must be a protocol name, or a list of names and tables such as "
            '{protocol = "linear", dataset_options = {probe = "mr"}} or '
            '{protocol = "linear_adam", options = {epochs = 100}}',
            index,
        )
    return tuple(found)


def _names(value: Any, key: str, where: _Locator, index: int) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise where.error(key, "must be a name or a list of names", index)
    return values


def _check_keys(
    table: Mapping[str, Any], valid: tuple[str, ...], where: _Locator, what: str, index: int = -1
):
    for key in table:
        if key not in valid:
            raise where.error(
                key, f"is not a valid key of {what}{suggest(key, valid)} Valid: {', '.join(valid)}.", index
            )


def _check_values(table: Mapping[str, Any], keys: tuple[str, ...], where: _Locator, index: int = -1) -> None:
    """The values of ``keys`` in ``table`` checked against their TrainConfig fields."""
    for key in keys:
        if key in table:
            problem = field_problem(key, table[key])
            if problem is not None:
                raise where.error(key, problem, index)


_GROUP_START = re.compile(r"^\s*(\[\[run\]\]|-\s*task\s*:|run\s*:)")  # a [[run]] table or YAML list item


class _Locator:
    """Finds the line of a key in the grid text, for error messages (best effort:
    the first ``key =`` / ``key:`` line inside the ``index``-th ``[[run]]`` group)."""

    def __init__(self, text: str, path: str):
        self.lines = text.splitlines()
        self.path = path

    def line_of(self, key: str, index: int = -1) -> int | None:
        pattern = re.compile(rf"^\s*(-\s*)?[\"']?{re.escape(key)}[\"']?\s*[=:]|[{{,]\s*{re.escape(key)}\s*=")
        groups = [n for n, line in enumerate(self.lines) if _GROUP_START.match(line)]
        start = groups[index] if 0 <= index < len(groups) else 0
        for n in [*range(start, len(self.lines)), *range(start)]:  # the group first, then the rest
            if pattern.search(self.lines[n]):
                return n + 1
        return None

    def error(self, key: str, problem: str, index: int = -1) -> GridError:
        line = self.line_of(key, index)
        at = f", line {line}" if line else ""
        return GridError(f"{self.path}{at}: key {key!r} {problem}")
