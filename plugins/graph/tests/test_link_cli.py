"""The link-prediction protocol through the CLI: ``sslcore evaluate --protocol link``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sslcore.cli import main


def test_evaluate_link_prints_the_saved_auc_and_ap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "gae"
    args = ["pretrain", "gae", "--dataset", "karate", "--output", str(run), "--steps", "5", "--threads", "1"]
    assert main([*args, "--dataset-opt", "link_split=true", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--protocol", "link"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "eval_link.json").read_text())
    assert 0.0 <= saved["test_auc"] <= 1.0 and 0.0 <= saved["test_ap"] <= 1.0
    assert f"AUC: {100 * saved['test_auc']:.2f}" in out and f"AP: {100 * saved['test_ap']:.2f}" in out


def test_a_link_grid_records_auc_and_ap_beside_the_accuracy(tmp_path: Path) -> None:
    """``sslcore compare`` with the link protocol: every number of the protocol (AUC, AP,
    the chosen threshold's accuracy) is in the record's ``metrics``, per model."""
    from sslcore.compare import parse_grid, run_grid

    grid = parse_grid(
        """
[settings]
seeds = [0]
device = "cpu"
threads = 1
protocol = "link"

[[run]]
task = "gae"
dataset = "karate"
budget = {steps = 5}
dataset_options = {link_split = true}
"""
    )
    (record,) = run_grid(grid, tmp_path, log=lambda message: None)
    assert record["status"] == "ok", record.get("error")
    for which in ("pretrained", "random_init"):
        numbers = record["metrics"][which]
        assert 0.0 <= numbers["test_auc"] <= 1.0 and 0.0 <= numbers["test_ap"] <= 1.0
        assert numbers["test_accuracy"] == record[which]
    evaluated = json.loads(json.dumps(record["metrics"]["pretrained"]))
    assert evaluated["score"] == "dot"
