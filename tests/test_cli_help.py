"""The command line derived from TrainConfig: a flag, help text, choices and a default for
every field; flags round-trip to the keywords `pretrain` gets; every subcommand's --help
ends with examples that parse."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
import sys
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

import pytest

import sslcore.cli as cli
import sslcore.runs
from sslcore.cli import build_parser, main
from sslcore.engine.config import FIELDS, GROUPS, HINTS, TrainConfig


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def pretrain_parser() -> argparse.ArgumentParser:
    return subparsers(build_parser())["pretrain"]


def train_actions() -> dict[str, argparse.Action]:
    return {a.dest: a for a in pretrain_parser()._actions if a.dest in FIELDS}


def literal_choices(name: str) -> tuple[Any, ...] | None:
    hint = HINTS[name]
    return typing.get_args(hint) if typing.get_origin(hint) is Literal else None


# --- one source -------------------------------------------------------------------------------------------
def test_every_field_has_help_a_group_and_a_flag_with_its_choices() -> None:
    actions = train_actions()
    for name, field in FIELDS.items():
        assert field.metadata.get("help"), f"TrainConfig.{name} has no help text"
        assert field.metadata.get("group") in GROUPS, f"TrainConfig.{name} has no group"
        assert name in actions, f"TrainConfig.{name} has no flag"
        action = actions[name]
        assert action.help and field.metadata["help"] in action.help and "(default: " in action.help
        assert "--" + name.replace("_", "-") in action.option_strings
        choices = literal_choices(name)
        if choices is not None:
            assert tuple(action.choices) == choices, f"--{name} lacks its choices"


def test_choices_come_from_the_literal_hints() -> None:
    from sslcore.engine import config, device

    assert config.OPTIMIZERS == literal_choices("optimizer") == ("adamw", "adam", "sgd", "lars")
    assert config.PRECISIONS == literal_choices("precision") == device.PRECISIONS
    assert config.NAN_POLICIES == literal_choices("nan_policy")


def test_a_field_without_help_breaks_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass
    class Extra:
        new_option: int = 3

    (extra,) = dataclasses.fields(Extra)
    monkeypatch.setattr(cli, "FIELDS", {**FIELDS, "new_option": extra})
    monkeypatch.setattr(cli, "HINTS", {**HINTS, "new_option": int})
    with pytest.raises(TypeError, match="TrainConfig.new_option needs metadata help= and group="):
        build_parser()


def test_flag_kinds_follow_the_type_hints() -> None:
    actions = train_actions()
    boolean_optional = {n for n, a in actions.items() if isinstance(a, argparse.BooleanOptionalAction)}
    store_true = {n for n, a in actions.items() if isinstance(a, argparse._StoreTrueAction)}
    assert boolean_optional == {"progress_bar", "find_unused_parameters", "channels_last", "cudnn_benchmark"}
    assert store_true == {"sync_batchnorm", "tensorboard", "compile"}
    assert {"--no-channels-last", "--no-find-unused-parameters", "--no-progress"} <= {
        s for a in actions.values() for s in a.option_strings
    }
    # the run's own arguments are not training fields
    others = {a.dest for a in pretrain_parser()._actions} - set(actions)
    assert not others & set(FIELDS)


def test_help_shows_groups_choices_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["pretrain", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # unwrapped
    for title in GROUPS:
        assert f"{title}:" in out
    for text in (
        "--optimizer {adamw,adam,sgd,lars}",
        "--precision {auto,fp32,bf16,fp16}",
        "--nan-policy {stop,skip}",
        "--momentum X momentum of SGD and LARS (used with optimizer sgd or lars) (default: the task's recipe, see "
        "`sslcore tasks NAME`; else 0.9)",
        "--checkpoint-every N save a checkpoint every N steps (and when training ends or stops) (default: 500)",
        "--steps N optimisation steps (default: the task's recipe, see `sslcore tasks NAME`)",
        "(default: the task's recipe, see `sslcore tasks NAME`; else 256)",
        "--grad-clip X|none",
        "--no-channels-last",
        "(default: auto: on CUDA when the task has a 2-D convolution)",
        "--cudnn-benchmark, --no-cudnn-benchmark",
        "examples: sslcore pretrain",
    ):
        assert text in out, text


# --- round trips ------------------------------------------------------------------------------------------
@pytest.fixture()
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `sslcore pretrain` passes to sslcore.runs.pretrain (which is not run)."""
    seen: dict[str, Any] = {}

    def fake_pretrain(task: str, dataset: str, output: str, **kwargs: Any) -> SimpleNamespace:
        seen.update(kwargs)
        return SimpleNamespace(
            interrupted=None, steps=1, epochs=1.0, samples=1, seconds=0.1, final_loss=0.5,
            checkpoint="c", skipped_steps=0, new_steps=1, stopped_early=None,
        )  # fmt: skip

    monkeypatch.setattr(sslcore.runs, "pretrain", fake_pretrain)
    return seen


RUN = ["pretrain", "scarf", "--dataset", "wine", "--output", "runs/x"]
RUN_KEYWORDS = {"data_root", "encoder", "task_options", "encoder_options", "dataset_options", "resume"}


def train_of(seen: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in seen.items() if k not in RUN_KEYWORDS}


def other_value(name: str) -> tuple[list[str], Any]:
    """Flags that set field ``name`` to a value other than its default, and that value."""
    field, flag = FIELDS[name], "--" + name.replace("_", "-")
    choices = literal_choices(name)
    if choices is not None:
        value = [c for c in choices if c != field.default][-1]
        return [flag, str(value)], value
    if isinstance(field.default, bool) or name == "channels_last":
        value = not field.default
        return [flag if value else "--no-" + flag[2:]], value
    if name == "device":
        return [flag, "cpu"], "cpu"
    base, _ = cli._value_type(HINTS[name])
    value = {int: 3, float: 0.25}[base]
    return [flag, str(value)], value


def test_every_flag_round_trips_with_its_type(captured: dict[str, Any]) -> None:
    argv, expected = list(RUN), {}
    for name in FIELDS:
        flags, expected[name] = other_value(name)
        argv += flags
    assert main(argv) == 0
    train = train_of(captured)
    assert train == expected
    assert {k: type(v) for k, v in train.items()} == {k: type(v) for k, v in expected.items()}
    TrainConfig.from_dict(train)  # every value is valid for the config


def test_the_flags_of_the_issue_round_trip(captured: dict[str, Any]) -> None:
    argv = [*RUN, "--momentum", "0.8", "--find-unused-parameters", "--optimizer", "sgd", "--epochs", "2"]
    argv += ["--no-channels-last", "--grad-clip", "none", "--threads", "2", "--no-cudnn-benchmark"]
    assert main(argv) == 0
    assert train_of(captured) == {
        "momentum": 0.8,
        "find_unused_parameters": True,
        "optimizer": "sgd",
        "epochs": 2.0,
        "channels_last": False,
        "grad_clip": None,
        "threads": 2,
        "cudnn_benchmark": False,
    }
    assert isinstance(captured["epochs"], float) and isinstance(captured["threads"], int)
    captured.clear()
    assert main([*RUN, "--steps", "5", "--no-find-unused-parameters", "--grad-clip", "1.5"]) == 0
    assert train_of(captured) == {"steps": 5, "find_unused_parameters": False, "grad_clip": 1.5}


def test_only_the_flags_given_reach_pretrain(captured: dict[str, Any]) -> None:
    assert main([*RUN, "--lr", "0.01"]) == 0
    assert train_of(captured) == {"lr": 0.01}  # no budget given: the recipe's applies in pretrain


@pytest.mark.parametrize(
    ("flags", "progress_bar"),
    [(["--no-progress"], False), (["--no-progress-bar"], False), (["--progress-bar"], True), ([], None)],
)
def test_no_progress_still_works(
    captured: dict[str, Any], flags: list[str], progress_bar: bool | None
) -> None:
    assert main([*RUN, "--steps", "1", *flags]) == 0
    assert captured.get("progress_bar") is progress_bar


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--optimizer", "adamx"],
            "argument --optimizer: invalid choice: 'adamx' (choose from 'adamw', 'adam', 'sgd', 'lars')",
        ),
        (["--precision", "bf61"], "argument --precision: invalid choice: 'bf61'"),
        (["--nan-policy", "ignore"], "argument --nan-policy: invalid choice: 'ignore'"),
        (["--steps", "ten"], "argument --steps: invalid int value: 'ten'"),
        (["--grad-clip", "big"], "argument --grad-clip: invalid float (or 'none') value: 'big'"),
        (["--steps", "none"], "argument --steps: invalid int value: 'none'"),
    ],
)
def test_bad_values_are_argparse_errors(
    captured: dict[str, Any], capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main([*RUN, *flags])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not captured


def test_out_of_range_values_are_clear_config_errors(
    captured: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def checking_pretrain(task: str, dataset: str, output: str, **kwargs: Any) -> None:
        TrainConfig.from_dict({k: v for k, v in kwargs.items() if k not in RUN_KEYWORDS})

    monkeypatch.setattr(sslcore.runs, "pretrain", checking_pretrain)
    assert main([*RUN, "--steps", "0"]) == 2
    assert "sslcore: error: steps must be > 0, got 0" in capsys.readouterr().err
    assert main([*RUN, "--steps", "3", "--warmup", "1"]) == 2
    assert "warmup must be in [0, 1), got 1.0" in capsys.readouterr().err


# --- examples -----------------------------------------------------------------------------------------------
def examples(parser: argparse.ArgumentParser) -> list[list[str]]:
    """Each example of ``parser``'s epilog as the arguments after ``sslcore``."""
    epilog = parser.epilog or ""
    assert epilog.startswith("examples:\n"), parser.prog
    text = epilog.removeprefix("examples:\n").replace("\\\n", " ")
    commands = [shlex.split(line, comments=True) for line in text.splitlines()]
    return [words[words.index("sslcore") + 1 :] for words in commands]


def test_every_subcommand_has_examples_that_parse(capsys: pytest.CaptureFixture[str]) -> None:
    commands = subparsers(build_parser())
    assert {"pretrain", "evaluate", "compare", "export", "tasks", "plugins"} <= set(commands)
    for name, parser in commands.items():
        with pytest.raises(SystemExit):
            main([name, "--help"])
        assert "\nexamples:\n  " in capsys.readouterr().out, name
        found = examples(parser)
        assert len(found) >= 2, name
        for argv in found:
            assert argv[0] == name, argv
            build_parser().parse_args(argv)  # exits (2) on an example that does not parse


# --- the comparison grid checks the same fields ---------------------------------------------------------------
GRID = """[settings]
device = "cpu"
threads = 1

[[run]]
task = "ae"
dataset = "vecs"
budget = {steps = 4}
train = {batch_size = 8}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("threads = 1", "threads = 0", r"g.toml, line 3: key 'threads' must be >= 1, got 0"),
        ('device = "cpu"', "device = 3", r"g.toml, line 2: key 'device' must be a string, got int 3"),
        ("steps = 4", "steps = 0", r"g.toml, line 8: key 'steps' must be > 0, got 0"),
        (
            "steps = 4",
            'seconds = "x"',
            r"g.toml, line 8: key 'seconds' must be a float > 0 or None, got str 'x'",
        ),
        (
            "steps = 4",
            "step = 4",
            r"g.toml, line 8: key 'step' .*did you mean 'steps'\? Valid: epochs, steps, seconds",
        ),
    ],
)
def test_grid_budget_and_settings_are_checked_against_train_config(old: str, new: str, message: str) -> None:
    from sslcore.compare import GridError, parse_grid
    from sslcore.compare.grid import BUDGET_KEYS, SETTINGS_KEYS, TRAIN_SETTINGS

    # the budget amounts; ``clock`` and ``patience`` (shown with them) say how seconds count and
    # when to stop within the budget
    budget_group = {n for n, f in FIELDS.items() if f.metadata["group"] == "budget"}
    assert set(BUDGET_KEYS) == budget_group - {"clock", "patience"}
    assert set(TRAIN_SETTINGS) <= set(FIELDS) and set(TRAIN_SETTINGS) <= set(SETTINGS_KEYS)
    parse_grid(GRID, "g.toml")
    with pytest.raises(GridError, match=message):
        parse_grid(GRID.replace(old, new), "g.toml")


def test_the_cli_prints_sslcore_warnings_as_one_line_and_hides_torchs_jit_deprecation(tmp_path: Path) -> None:
    """A budget far below the recipe's: one ``sslcore: warning:`` line on stderr, not Python's
    ``file:line: Category: ...`` form, and no FutureWarning from torch_geometric's imports."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sslcore",
            "pretrain",
            "dgi",
            "--dataset",
            "karate",
            "--output",
            str(tmp_path / "r"),
        ]
        + ["--epochs", "1", "--no-progress", "--threads", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert any(
        line.startswith("sslcore: warning: the training budget (1 step) is far too short") for line in lines
    )
    assert "ShortBudgetWarning" not in proc.stderr and "FutureWarning" not in proc.stderr, proc.stderr
