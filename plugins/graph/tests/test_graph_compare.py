"""Comparison grids of graph tasks: what the runner records and logs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: one seed on the CPU, one thread; a test adds settings and its single ``[[run]]``
SETTINGS = '[settings]\nseeds = [0]\ndevice = "cpu"\nthreads = 1\n'


def only_record(tmp_path: Path, grid: str, log: Any = lambda message: None) -> dict:
    """The record of a grid of one run, ``SETTINGS`` followed by ``grid``."""
    from sslcore.compare import parse_grid, run_grid

    (record,) = run_grid(parse_grid(SETTINGS + grid), tmp_path, log=log)
    return record


def test_a_link_grid_records_auc_and_ap_beside_the_accuracy(tmp_path: Path) -> None:
    """``sslcore compare`` with the link protocol: every number of the protocol (AUC, AP,
    the chosen threshold's accuracy) is in the record's ``metrics``, per model."""
    grid = """protocol = "link"

[[run]]
task = "gae"
dataset = "karate"
budget = {steps = 5}
dataset_options = {link_split = true}
"""
    record = only_record(tmp_path, grid)
    assert record["status"] == "ok", record.get("error")
    for which in ("pretrained", "random_init"):
        numbers = record["metrics"][which]
        assert 0.0 <= numbers["test_auc"] <= 1.0 and 0.0 <= numbers["test_ap"] <= 1.0
        assert numbers["test_accuracy"] == record[which]
    evaluated = json.loads(json.dumps(record["metrics"]["pretrained"]))
    assert evaluated["score"] == "dot"


def test_a_grid_notes_a_budget_far_below_the_recipe_instead_of_warning(tmp_path: Path) -> None:
    """A grid sets its budgets on purpose: the short-budget warning of the recipes becomes
    a note in the runner's log and the record, without the advice to drop CLI flags."""
    import warnings

    from sslcore.recipes import ShortBudgetWarning

    grid = """
[[run]]
task = "dgi"
dataset = "karate"
budget = {steps = 2}
"""
    messages: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", ShortBudgetWarning)  # escaping the runner would fail the run
        record = only_record(tmp_path, grid, messages.append)
    assert record["status"] == "ok", record.get("error")
    assert record["budget_note"].startswith("the training budget (2 steps) is far too short")
    assert "--epochs" not in record["budget_note"]
    assert any(m.endswith(f"note: {record['budget_note']}") for m in messages)
