"""A plugin outside the three domain plugins, installed through a real entry point,
trains and evaluates through the same CLI; a broken plugin breaks nothing else."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.fake_dist import TABULAR, run_cli, write_dist


@pytest.fixture()
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    write_dist(site, "sslcore-tabular", "0.1.0", {"tabular": "sslcore_tabular.plugin"})
    write_dist(
        site,
        "broken-plugin",
        "9.9",
        {"broken": "broken_plugin"},
        {"broken_plugin": "raise ImportError('this plugin needs libfoo')\n"},
    )
    return site


def test_plugins_lists_third_party_and_reports_broken(site: Path) -> None:
    proc = run_cli(["plugins"], [site, TABULAR])
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^tabular\s+\(sslcore-tabular 0\.1\.0\)", proc.stdout, re.M)
    assert "scarf" in proc.stdout and "breast-cancer" in proc.stdout
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "broken-plugin 9.9" in failed[0] and "libfoo" in failed[0]


def test_strict_mode_reraises_broken_plugin(site: Path) -> None:
    proc = run_cli(["plugins"], [site, TABULAR], env={"SSLCORE_STRICT_PLUGINS": "1"})
    assert proc.returncode != 0
    assert "libfoo" in proc.stderr


def test_disabled_plugin_is_not_loaded(site: Path) -> None:
    proc = run_cli(["tasks"], [site, TABULAR], env={"SSLCORE_DISABLE_PLUGINS": "broken,tabular"})
    assert proc.returncode == 0, proc.stderr
    assert "scarf" not in proc.stdout


def test_third_party_task_trains_and_evaluates_through_cli(site: Path, tmp_path: Path) -> None:
    tasks = run_cli(["tasks", "--domain", "tabular"], [site, TABULAR])
    assert re.search(r"tabular:scarf\s+tabular\s+contrastive\s+instance-instance\s+end-to-end", tasks.stdout)

    run = tmp_path / "run"
    train = run_cli(
        [
            "pretrain",
            "scarf",
            "--dataset",
            "breast-cancer",
            "--output",
            str(run),
            "--steps",
            "120",
            "--batch-size",
            "128",
            "--lr",
            "3e-3",
            "--log-every",
            "10",
            "--no-progress",
        ],
        [site, TABULAR],
    )
    assert train.returncode == 0, train.stderr
    log = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(10, 121, 10))
    assert log[-1]["loss"] < log[0]["loss"]

    accuracies = {}
    for flag in ([], ["--random-init"]):
        proc = run_cli(["evaluate", str(run), "--protocol", "linear", *flag], [site, TABULAR])
        assert proc.returncode == 0, proc.stderr
        accuracies[bool(flag)] = float(re.search(r"test accuracy: ([\d.]+)%", proc.stdout).group(1))
    saved = json.loads((run / "eval_linear.json").read_text())
    assert saved["test_accuracy"] * 100 == pytest.approx(accuracies[False], abs=0.01)
    assert saved["task"] == "tabular:scarf" and saved["num_test"] == 171
    # breast cancer is 63 % benign: both encoders must beat the majority class by far
    assert accuracies[False] > 85 and accuracies[True] > 63
