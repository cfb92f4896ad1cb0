"""One place resolves ``device`` and ``precision`` (sslcore.engine.device), before any data
loads, for the Python API, the CLI and comparison grids; bad settings name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sslcore.cli import main
from sslcore.compare import GridError, parse_grid, run_grid
from sslcore.engine.device import resolve_device, resolve_precision
from sslcore.errors import ConfigError
from sslcore.runs import evaluate, pretrain


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with one CUDA device without bf16 (answers only: nothing runs on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")


def test_auto_is_the_cpu_without_a_gpu_and_cuda_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("auto") == torch.device("cuda", 1)  # one GPU per torchrun process


def test_a_gpu_that_is_not_there_is_named(monkeypatch: pytest.MonkeyPatch, one_gpu: None) -> None:
    with pytest.raises(
        ConfigError, match=r"'cuda:3' does not exist: this machine has 1 CUDA device\(s\), cuda:0 to cuda:0"
    ):
        resolve_device("cuda:3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ConfigError, match=r"'cuda' asks for a GPU, but torch sees no CUDA device.*use --device cpu"
    ):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"device 'gpu0' is not a device torch knows"):
        resolve_device("gpu0")


def test_precision_auto_and_checks(monkeypatch: pytest.MonkeyPatch, one_gpu: None) -> None:
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_precision("auto", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    assert resolve_precision("auto", gpu) == "fp32"  # this GPU has no bf16
    with pytest.raises(ConfigError, match=r"'bf16': Tesla T4 has no bf16 support; use 'fp16'"):
        resolve_precision("bf16", gpu)
    with pytest.raises(ConfigError, match=r"'fp16' needs CUDA .* use precision 'bf16' on CPU"):
        resolve_precision("fp16", cpu)
    with pytest.raises(
        ConfigError, match=r"precision must be one of 'auto', 'fp32', 'bf16', 'fp16', got 'half'"
    ):
        resolve_precision("half", cpu)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_precision("auto", gpu) == "bf16"


def test_bad_devices_fail_before_any_data_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dataset that cannot load (no such folder) is never reached: the device is checked first."""
    missing = str(tmp_path / "no-data")
    with pytest.raises(ConfigError, match="asks for a GPU"):
        pretrain(
            "vision:simclr",
            "vision:fashion-mnist",
            tmp_path / "run",
            data_root=missing,
            steps=1,
            device="cuda",
        )
    with pytest.raises(ConfigError, match="asks for a GPU"):
        evaluate(tmp_path / "not-a-run", device="cuda")
    assert main(["evaluate", str(tmp_path / "not-a-run"), "--device", "cuda:1"]) == 2
    assert "asks for a GPU" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_grid_with_a_missing_gpu_is_refused_before_any_run(tmp_path: Path) -> None:
    text = '[settings]\nseeds = [0]\ndevice = "cuda:2"\n\n[[run]]\ntask = "vision:simclr"\ndataset = "vision:digits"\nbudget = {steps = 1}\n'
    with pytest.raises(GridError, match="asks for a GPU"):
        run_grid(parse_grid(text, "g.toml"), tmp_path, log=lambda *a: None)
    assert not (tmp_path / "runs").exists()
