"""The registered recipes are the configurations behind the committed benchmark tables.

docs/benchmarks.md reports every vision, text and graph method at the settings recorded
in ``benchmarks/results/{vision,nlp,graph}_methods.json``; ``sslcore pretrain NAME`` with
no options trains the task's recipe. These tests fail when a recipe drifts from what a
table's runs used, so "the defaults reproduce the tables" stays true (or the table is
rerun)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sslcore.engine import TrainConfig
from sslcore.plugins.manager import get_registry
from sslcore.recipes import BUDGET_FIELDS, apply_recipe

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"


def committed_runs(name: str) -> list[tuple[str, dict[str, Any]]]:
    """``(task, record)`` of every run in a results file whose task is registered."""
    registered = {spec.name for spec in get_registry().specs("task").values()}
    runs = json.loads((RESULTS / f"{name}.json").read_text())["runs"]
    found = []
    for key, record in sorted(runs.items()):
        task = key.rsplit("/", 1)[0]
        if "recipe" in record and task in registered:
            found.append((task, record))
    return found


def defaults(task: str, dataset: str) -> Any:
    """What ``pretrain(task, dataset)`` trains with no options: the applied recipe."""
    spec = get_registry().task(task)
    return apply_recipe(spec.recipe, {}, dataset=dataset, default_encoder=spec.default_encoder)


@pytest.mark.parametrize("name,dataset", [("vision_methods", "fashion-mnist"), ("nlp_methods", "wikitext2")])
def test_the_timed_tables_ran_the_recipes(name: str, dataset: str) -> None:
    runs = committed_runs(name)
    assert len(runs) >= 18  # every table row's seeds (a vanished file or key would pass vacuously)
    for task, record in runs:
        plan = defaults(task, dataset)
        settings = {k: v for k, v in plan.train.items() if k not in BUDGET_FIELDS}
        assert record["recipe"] == {"task_options": plan.task_options, **settings}, task
        assert plan.train["seconds"] == record.get("budget_seconds", 900.0), task


def test_the_graph_table_ran_the_recipes() -> None:
    runs = committed_runs("graph_methods")
    assert len(runs) >= 15
    for task, record in runs:
        plan = defaults(task, record["dataset"])
        recorded = record["recipe"]  # train: the fields set; the rest were the trainer's defaults
        assert TrainConfig.from_dict(recorded["train"]) == TrainConfig.from_dict(plan.train), task
        assert recorded["task_options"] == plan.task_options, task
        assert recorded["encoder_options"] == plan.encoder_options, task
        assert recorded["dataset_options"] == plan.dataset_options, task
