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
