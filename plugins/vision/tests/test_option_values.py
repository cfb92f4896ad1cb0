"""Bad option values from the command line fail with a clear ConfigError before a run
folder is written or data loads (sslcore.options), for tasks, encoders, datasets and
protocols; good ones reach the components unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

import sslcore.plugins.manager as manager
from sslcore import ConfigError, DatasetBundle
from sslcore.build import build_task
from sslcore.cli import main
from sslcore.plugins import Registry


@pytest.fixture()
def cli_registry(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> Registry:
    monkeypatch.setattr(manager, "_DEFAULT", registry)
    return registry


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (
            ["--task-opt", "temperature=abc"],
            "task 'simclr' option temperature='abc': must be a float > 0, not str "
            "(e.g. --task-opt temperature=0.2)",
        ),
        (
            ["--task-opt", "temperature=-0.1"],
            "task 'simclr' option temperature=-0.1: must be > 0 (a float, e.g. --task-opt temperature=0.2)",
        ),
        (
            ["--encoder-opt", "width=abc"],
            "encoder 'small_cnn' option width='abc': must be an int >= 1, not str (e.g. --encoder-opt width=32)",
        ),
        (
            ["--task-opt", "proj_dim=-3"],
            "task 'simclr' option proj_dim=-3: must be >= 1 (an int, e.g. --task-opt proj_dim=128)",
        ),
        (
            ["--dataset-opt", "image_size=abc"],
            "dataset 'digits' option image_size='abc': must be an int >= 1, not str "
            "(e.g. --dataset-opt image_size=16)",
        ),
        (
            ["--task-opt", "blur=yes"],  # not a Python literal: the string 'yes'
            "task 'simclr' option blur='yes': must be True or False, not str (e.g. --task-opt blur=False)",
        ),
    ],
)
def test_pretrain_rejects_a_bad_value_before_writing_the_run(
    cli_registry: Registry,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    message: str,
) -> None:
    run = tmp_path / "run"
    argv = [
        "pretrain",
        "simclr",
        "--dataset",
        "digits",
        "--steps",
        "1",
        "--no-progress",
        "--output",
        str(run),
    ]
    assert main([*argv, *option]) == 2
    assert f"sslcore: error: {message}" in capsys.readouterr().err
    assert not (run / "config.json").exists()


def test_evaluate_rejects_a_bad_protocol_value_before_loading_the_run(
    cli_registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"  # no run folder: the value fails before anything is read
    assert main(["evaluate", str(run), "--protocol", "linear", "--protocol-opt", "Cs=abc"]) == 2
    err = capsys.readouterr().err
    assert "protocol 'linear' option Cs='abc': must be a list of floats > 0, not str" in err
    assert '(e.g. --protocol-opt "Cs=[0.01,0.1,1.0,10.0]")' in err
    assert not run.exists()


@pytest.mark.parametrize(
    ("task", "options", "message"),
    [
        ("moco_v2", {"momentum": 1.5}, "momentum=1.5: must be in [0, 1]"),
        ("masked_denoising", {"mask_ratio": 1.0}, "mask_ratio=1.0: must be in (0, 1)"),
        ("byol", {"blur": (1.0, 2.0)}, "blur=(1.0, 2.0): item 1 (2.0) must be in [0, 1]"),
        ("swav", {"queue_size": -1}, "queue_size=-1: must be >= 0"),
        ("jigsaw", {"grid": 1}, "grid=1: must be >= 2"),
        ("simclr", {"crop_min_scale": 0}, "crop_min_scale=0: must be in (0, 1]"),
    ],
)
def test_declared_ranges_of_the_vision_tasks(
    registry: Registry, digits_bundle: DatasetBundle, task: str, options: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build_task(task, digits_bundle, task_options=options, registry=registry)
    assert f"task {task!r} option {message}" in str(info.value)


def test_good_values_reach_the_task_unchanged(registry: Registry, digits_bundle: DatasetBundle) -> None:
    task = build_task(
        "simclr",
        digits_bundle,
        task_options={"temperature": 1, "proj_dim": 16, "hidden_dim": 32, "blur": True},
        encoder_options={"width": 8},
        registry=registry,
    )
    assert task.temperature == 1 and type(task.temperature) is int
    assert task.encoder.output_dim == 256
