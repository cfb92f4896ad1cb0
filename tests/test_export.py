"""Safe artefacts: a run's encoder exported as safetensors with a JSON sidecar, loaded back
without unpickling anything; tampering is detected; the CLI's ``export`` command."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sslcore.plugins.manager as manager
from sslcore.cli import main
from sslcore.engine import CheckpointDir
from sslcore.errors import CheckpointError
from sslcore.export import SIDECAR, WEIGHTS, export_run, load_encoder, read_export
from sslcore.io import read_json
from tests import dist_train
from tests.toy_tasks import DIM, VectorEncoder


@pytest.fixture()
def run(tmp_path: Path) -> Path:
    out = tmp_path / "run"
    assert (
        dist_train.main(["--output", str(out), "--task", "ae", "--steps", "4", "--checkpoint-every", "2"])
        == 0
    )
    return out


def test_export_writes_safetensors_and_a_sidecar_that_load_back(run: Path, tmp_path: Path) -> None:
    written = export_run(run, tmp_path / "export", registry=dist_train.toy_registry())
    assert written["weights"].name == "encoder.safetensors" and "transformers" not in written
    sidecar = read_json(written["sidecar"])
    assert sidecar["format"] == "sslcore-encoder/1"
    assert (sidecar["task"], sidecar["dataset"], sidecar["encoder"]) == ("toy:ae", "toy:vecs", None)
    assert sidecar["output_dim"] == 4 and "sslcore" in sidecar["versions"]
    assert sidecar["tensors"]["linear.weight"] == {"shape": [4, DIM], "dtype": "float32"}
    # the safetensors file is plain data: not a pickle
    assert not written["weights"].read_bytes().startswith(b"\x80")

    checkpoint = CheckpointDir(run / "checkpoints").latest()[1]["model"]  # type: ignore[index]
    encoder = load_encoder(tmp_path / "export", VectorEncoder(DIM, 4))
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, checkpoint[f"encoder.{key}"])


def test_a_modified_export_is_refused(run: Path, tmp_path: Path) -> None:
    written = export_run(run, tmp_path / "export", registry=dist_train.toy_registry())
    tensors, _ = read_export(tmp_path / "export")
    data = bytearray(written["weights"].read_bytes())
    data[-1] ^= 0xFF
    written["weights"].write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        read_export(tmp_path / "export")
    with pytest.raises(CheckpointError, match="is not an sslcore export"):
        read_export(tmp_path)
    assert set(tensors) == {"linear.weight", "linear.bias"}


def test_cli_export(run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(manager, "_DEFAULT", dist_train.toy_registry())
    assert main(["export", str(run), str(tmp_path / "cli-export")]) == 0
    assert "weights: " in capsys.readouterr().out
    assert (tmp_path / "cli-export" / "encoder.safetensors").exists()
    assert (tmp_path / "cli-export" / "encoder.json").exists()


def test_a_vision_run_exports_the_core_layout_and_nothing_else(tmp_path: Path) -> None:
    """One layout for every domain: a vision run gets the weights and sidecar only (the nlp
    plugin's hook adds a transformers directory for transformers encoders alone, see
    plugins/nlp/tests/test_nlp_pretrained.py)."""
    from sslcore.plugins import get_registry
    from sslcore.runs import pretrain

    registry = get_registry()
    if not {"vision", "nlp"} <= set(registry.plugins):
        pytest.skip("needs the vision and nlp plugins installed")
    run = tmp_path / "run"
    pretrain(
        "simclr",
        "digits",
        run,
        encoder_options={"width": 8, "output_dim": 16},
        task_options={"proj_dim": 8, "hidden_dim": 16},
        registry=registry,
        steps=2,
        batch_size=8,
        device="cpu",
        progress_bar=False,
    )
    written = export_run(run, tmp_path / "export", registry=registry)
    assert written == {"weights": tmp_path / "export" / WEIGHTS, "sidecar": tmp_path / "export" / SIDECAR}
    assert sorted(p.name for p in (tmp_path / "export").iterdir()) == [SIDECAR, WEIGHTS]
    tensors, sidecar = read_export(tmp_path / "export")
    assert (sidecar["task"], sidecar["dataset"], sidecar["output_dim"]) == (
        "vision:simclr",
        "vision:digits",
        16,
    )
    checkpoint = CheckpointDir(run / "checkpoints").latest()[1]["model"]  # type: ignore[index]
    for key, value in tensors.items():
        assert torch.equal(value, checkpoint[f"encoder.{key}"]), key
