"""The CLI's commands and its answers to bad input, on the example tabular plugin
registered in-process (no domain plugin needed)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sslcore.cli import main, parse_assignments
from sslcore.errors import ConfigError
from sslcore.plugins.manager import Registry


@pytest.fixture()
def registry(tabular_registry: Registry) -> Registry:
    return tabular_registry


def _pretrain(run: Path, *extra: str) -> int:
    return main(
        [
            "pretrain",
            "scarf",
            "--dataset",
            "wine",
            "--output",
            str(run),
            "--batch-size",
            "64",
            "--no-progress",
            *extra,
        ]
    )


def test_tasks_table_lists_taxonomy(registry: Registry, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[:3]
    assert header.split() == ["task", "domain", "paradigm", "family", "negatives", "summary"]
    assert row.split()[:5] == ["tabular:scarf", "tabular", "contrastive", "instance-instance", "end-to-end"]


def test_unknown_names_suggest_the_closest(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["pretrain", "scraf", "--dataset", "wine", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'scraf'" in err and "did you mean 'scarf'" in err
    assert main(["pretrain", "scarf", "--dataset", "whine", "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'wine'" in err and "breast-cancer" in err
    assert main(["evaluate", str(tmp_path), "--protocol", "linaer"]) == 2
    assert "did you mean 'linear'" in capsys.readouterr().err


def test_bad_option_keys_are_rejected_with_suggestion(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _pretrain(tmp_path / "r", "--steps", "2", "--task-opt", "temprature=0.5") == 2
    err = capsys.readouterr().err
    assert "no option 'temprature'" in err and "did you mean 'temperature'" in err
    assert _pretrain(tmp_path / "r", "--steps", "2", "--encoder-opt", "width=3") == 2
    assert "output_dim" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()


def test_pretrain_evaluate_and_resume(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    assert _pretrain(run, "--steps", "4", "--checkpoint-every", "2", "--log-every", "1") == 0
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "tabular:scarf" and config["dataset"] == "tabular:wine"
    assert config["train"]["steps"] == 4 and "sslcore-tabular" in config["versions"]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_00000002.pt", "step_00000004.pt"]

    # a second pretrain into the same folder must not silently overwrite the run
    assert _pretrain(run, "--steps", "4") == 2
    assert "--resume" in capsys.readouterr().err
    # resuming with a larger budget continues from step 4
    assert _pretrain(run, "--steps", "6", "--checkpoint-every", "2", "--log-every", "1", "--resume") == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]
    # resuming a different task configuration is refused
    assert _pretrain(run, "--steps", "8", "--resume", "--task-opt", "temperature=0.1") == 2
    assert "task_options" in capsys.readouterr().err

    capsys.readouterr()
    assert main(["evaluate", str(run), "--protocol", "knn"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run / "eval_knn.json").read_text())
    assert f"{100 * saved['test_accuracy']:.2f}%" in out
    assert saved["protocol"] == "knn" and saved["num_test"] == 54

    argv = ["evaluate", str(run), "--protocol", "finetune", "--protocol-opt", "lrs=[1e-3, 1e-2]"]
    assert main([*argv, "--protocol-opt", "epochs=2"]) == 0
    tuned = json.loads((run / "eval_finetune.json").read_text())
    assert tuned["protocol_options"] == {"lrs": [1e-3, 1e-2], "epochs": 2}
    assert tuned["selected"]["lr"] in (1e-3, 1e-2) and tuned["selected"]["epoch"] in (1, 2)
    assert main([*argv, "--protocol-opt", "epoch=2"]) == 2  # unknown option: clear error
    assert "no option epoch" in capsys.readouterr().err


def test_evaluate_missing_run_is_a_clear_error(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "not a run folder" in capsys.readouterr().err


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x", "c=[1, 2]", "d=True"], "--x") == {
        "a": 1,
        "b": "x",
        "c": [1, 2],
        "d": True,
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["novalue"], "--task-opt")


def test_core_imports_no_plugin_or_domain_library() -> None:
    code = (
        "import sys, sslcore, sslcore.runs, sslcore.cli, sslcore.engine, sslcore.evaluation, sslcore.compare\n"
        "heavy = {'sslcore_vision', 'sslcore_nlp', 'sslcore_graph', 'torchvision', 'transformers', 'torch_geometric'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_plugins_command_with_every_plugin_disabled() -> None:
    env = {"SSLCORE_DISABLE_PLUGINS": "vision,nlp,graph,tabular"}
    proc = subprocess.run(
        [sys.executable, "-m", "sslcore", "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    assert "no sslcore plugins installed" in proc.stdout


def test_evaluate_help_names_every_protocol() -> None:
    """The help is written out (the CLI starts without importing the protocols): it must
    follow the registry."""
    from sslcore.cli import build_parser
    from sslcore.evaluation import PROTOCOLS, TASK_PROTOCOLS

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    protocol = next(a for a in commands.choices["evaluate"]._actions if a.dest == "protocol")
    named = set(protocol.help.replace(" or ", ", ").split(", "))
    assert named == set(PROTOCOLS) | set(TASK_PROTOCOLS)
